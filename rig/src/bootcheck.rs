//! The boot check's pieces: which CPU model and accelerator combinations cannot run here, the
//! machine for a boot of the default image, and the check from inside the guest that its CPU
//! is what was asked (vendor, model name, the nested-virtualization flag, the KVM module). The
//! `check_cpu` step of a test case uses them.

use std::time::Duration;

use serde::Serialize;

use crate::guest::GuestLink;
use crate::identity::{self, CpuIdentity};
use crate::image::LinuxImage;
use crate::machine::{Accel, Boot, CpuModel, MachineSpec, Vendor};

/// What to boot.
#[derive(Debug, Clone)]
pub struct BootCheckOptions {
    /// The CPU model.
    pub cpu: &'static CpuModel,
    /// Ask for nested virtualization.
    pub nested: bool,
    /// The accelerator (already resolved).
    pub accel: Accel,
    /// Guest memory.
    pub memory_mib: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// Deadline from QEMU start to SSH.
    pub boot_timeout: Duration,
}

impl BootCheckOptions {
    /// The rig's usual guest on `cpu`: nested virtualization asked, 512 MiB, 2 vCPUs (a race
    /// needs real concurrency), two minutes to reach SSH.
    pub fn new(cpu: &'static CpuModel, accel: Accel) -> Self {
        BootCheckOptions { cpu, nested: true, accel, memory_mib: 512, vcpus: 2, boot_timeout: Duration::from_secs(120) }
    }
}

/// Why a combination cannot run here, if it cannot. Pure.
pub fn skip_reason(cpu: &CpuModel, nested: bool, accel: Accel) -> Option<String> {
    if accel == Accel::Tcg && cpu.kvm_only {
        return Some(format!("skipped: needs KVM (CPU model '{}' exists only under KVM)", cpu.name));
    }
    if accel == Accel::Tcg && nested && cpu.vendor == Vendor::Intel {
        return Some(format!("skipped: needs KVM (TCG does not emulate Intel VMX, so '{}' cannot nest)", cpu.name));
    }
    None
}

/// The machine for a boot of the default Linux image.
pub fn machine(image: &LinuxImage, o: &BootCheckOptions) -> MachineSpec {
    let boot =
        Boot::Kernel { kernel: image.kernel.clone(), initrd: image.initrd.clone(), append: image.cmdline.clone() };
    let mut spec = MachineSpec::kernel_boot(o.cpu, o.accel, boot);
    spec.nested = o.nested;
    spec.memory_mib = o.memory_mib;
    spec.vcpus = o.vcpus;
    spec
}

/// What the guest's CPU check found.
#[derive(Debug, Clone, Serialize)]
pub struct GuestCpuCheck {
    /// Everything asked for is there.
    pub ok: bool,
    /// One line per check.
    pub findings: Vec<String>,
    /// What the guest reported.
    pub identity: CpuIdentity,
}

/// Checks from inside the guest that its CPU is `cpu` (vendor, model name) and, when `nested`,
/// that the virtualization flag is there and the vendor's KVM module loaded.
pub async fn check_cpu(link: &GuestLink, cpu: &CpuModel, nested: bool) -> anyhow::Result<GuestCpuCheck> {
    let text = link.run(link.profile().cpuinfo_command, Duration::from_secs(10)).await?;
    let id = identity::parse_cpuinfo(&text);
    let check = identity::check(cpu, nested, &id);
    let (mut ok, mut findings) = (check.ok, check.findings);
    if nested && let Some(module) = cpu.vendor.kvm_module() {
        let modules = link.run("cat /proc/modules", Duration::from_secs(10)).await?;
        let loaded = modules.lines().any(|l| l.split_whitespace().next() == Some(module));
        findings.push(format!(
            "{}: {module} {}",
            if loaded { "ok" } else { "MISMATCH" },
            if loaded { "loaded" } else { "not loaded" }
        ));
        ok &= loaded;
    }
    Ok(GuestCpuCheck { ok, findings, identity: id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::lookup;

    #[test]
    fn intel_nesting_under_tcg_is_skipped() {
        let why = skip_reason(lookup("cascadelake").unwrap(), true, Accel::Tcg).unwrap();
        assert!(why.starts_with("skipped: needs KVM"), "{why}");
        assert!(skip_reason(lookup("cascadelake").unwrap(), false, Accel::Tcg).is_none());
        assert!(skip_reason(lookup("cascadelake").unwrap(), true, Accel::Kvm).is_none());
        assert!(skip_reason(lookup("epyc").unwrap(), true, Accel::Tcg).is_none());
        assert!(skip_reason(lookup("host").unwrap(), false, Accel::Tcg).is_some());
    }
}
