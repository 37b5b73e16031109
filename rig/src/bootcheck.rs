//! The boot check: boot a guest with a CPU model, wait for SSH, and verify from inside that
//! the CPU is what was asked (vendor, model name, the nested-virtualization flag).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::guest::{BootInfo, Guest, GuestLink, SshKeys};
use crate::identity::{self, CpuIdentity};
use crate::image::LinuxImage;
use crate::machine::{Accel, Boot, CpuModel, MachineSpec, Vendor};
use crate::profile::LINUX;

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

/// How a boot check ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// Booted, SSH answered, the CPU is what was asked.
    Pass,
    /// Booted, but the guest's CPU is not what was asked.
    Mismatch,
    /// Not run: this combination cannot work here (e.g. Intel nesting under TCG).
    Skipped(String),
    /// The rig or QEMU failed (QEMU died, the guest never became ready).
    Error(String),
}

/// The result of one boot check, written to the run's summary.
#[derive(Debug, Clone, Serialize)]
pub struct BootCheckResult {
    /// The CPU model's name.
    pub cpu: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The boot's timings and nonce.
    pub boot: Option<BootInfo>,
    /// What the guest reported about its CPU.
    pub identity: Option<CpuIdentity>,
    /// The checks made.
    pub findings: Vec<String>,
    /// The evidence directory.
    pub dir: String,
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

/// Boots, checks and shuts down; never hangs past `boot_timeout` plus a few seconds.
pub async fn run(image: &LinuxImage, o: &BootCheckOptions, dir: &Path) -> BootCheckResult {
    let mut r = BootCheckResult {
        cpu: o.cpu.name.to_string(),
        outcome: Outcome::Pass,
        boot: None,
        identity: None,
        findings: Vec::new(),
        dir: dir.display().to_string(),
    };
    if let Some(why) = skip_reason(o.cpu, o.nested, o.accel) {
        r.outcome = Outcome::Skipped(why);
        return r;
    }
    if o.accel == Accel::Kvm
        && o.nested
        && let Err(why) = crate::host::nested::check(Path::new("/sys"), o.cpu.vendor)
    {
        r.outcome = Outcome::Error(why);
        return r;
    }
    let keys = SshKeys { client_key: image.client_key.clone(), host_key: image.host_key.clone() };
    let guest = match Guest::launch(machine(image, o), LINUX, keys, dir).await {
        Ok(g) => g,
        Err(e) => {
            r.outcome = Outcome::Error(format!("{e:#}"));
            return r;
        }
    };
    let deadline = Instant::now() + o.boot_timeout;
    match guest.wait_ready(deadline).await {
        Ok(b) => r.boot = Some(b),
        Err(e) => {
            r.outcome = Outcome::Error(format!("{e} (evidence in {})", dir.display()));
            guest.shutdown().await;
            return r;
        }
    }
    match check_cpu(&guest.link(), o.cpu, o.nested).await {
        Ok(check) => {
            if !check.ok {
                r.outcome = Outcome::Mismatch;
            }
            r.findings = check.findings;
            r.identity = Some(check.identity);
        }
        Err(e) => r.outcome = Outcome::Error(format!("{e:#}")),
    }
    guest.shutdown().await;
    r
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
