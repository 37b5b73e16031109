//! The embedded Linux guests: Debian images booted straight into their kernel. Their init
//! prints `RIG-READY boot_id=<uuid>` once dropbear listens; `linux-kdump` dumps itself through
//! a capture kernel after a panic.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use tokio::time::Instant;

mod crash;
pub mod crash_tool;
pub mod image;
mod make;

pub use crash::Linux as LinuxDialect;

use super::{DumpTool, GuestOs, ImageInput, KnownBisection, Stage, Target};
use crate::console::stall::StallDialects;
use crate::crash::Dialect;
use crate::guest::GuestLink;
use crate::guest_os::linux::image::LinuxImage;
use crate::machine::{Accel, CpuModel, MachineSpec, Shape, Vendor};
use crate::profile::{ModuleReload, Profile, Ready};
use crate::ssh::SshKeys;

/// How long copying `/proc/vmcore` may take (about 12 MiB/s over SSH).
const VMCORE_TIMEOUT: Duration = Duration::from_secs(900);

/// What Linux's rmmod says when a module is in use: kmod's "is in use", busybox's strerror of
/// `EBUSY`/`EWOULDBLOCK` from `delete_module`.
const LINUX_BUSY: &[&str] = &["in use", "Device or resource busy", "Resource temporarily unavailable"];
/// What it says when the module is not loaded (kmod, busybox's strerror of `ENOENT`).
const LINUX_ABSENT: &[&str] = &["not currently loaded", "No such file or directory"];

const fn linux_module(name: &'static str, unload: &'static str, load: &'static str) -> ModuleReload {
    ModuleReload { name, unload, busy: LINUX_BUSY, absent: LINUX_ABSENT, load, free: "" }
}

/// The embedded default Linux guest: its init prints `RIG-READY boot_id=<uuid>` when dropbear
/// listens. `vmm` is the virtualization module of the CPU's vendor, as on illumos.
pub const LINUX: Profile = Profile {
    name: "linux",
    ready: Ready::NonceLine(r"RIG-READY boot_id=([0-9a-fA-F-]+)"),
    console_port: 0,
    ssh_user: "root",
    boot_id_command: "cat /proc/sys/kernel/random/boot_id",
    cpuinfo_command: "cat /proc/cpuinfo",
    reboot_command: "reboot -f",
    panic_command: "echo c > /proc/sysrq-trigger",
    sleep_ms: "usleep $(( ({ms}) * 1000 ))",
    zones: None,
    module_debug: "",
    virt_flags_command: "grep -m1 '^flags' /proc/cpuinfo",
    virt_flags: &[(Vendor::Amd, "svm"), (Vendor::Intel, "vmx")],
    modules_command: "cat /proc/modules",
    virt_modules: &[(Vendor::Amd, "kvm_amd"), (Vendor::Intel, "kvm_intel")],
    virt_refusal: r"(kvm(?:_amd|_intel)?: .*(?:not supported|no hardware support|disabled by bios).*)",
    virt_log_command: "dmesg",
    pvpanic: true,
    stall_dialects: StallDialects(super::dialects),
    modules: &[
        linux_module("vmm", "rmmod {kvm_vendor}", "modprobe {kvm_vendor}"),
        linux_module("kvm_amd", "rmmod kvm_amd", "modprobe kvm_amd"),
        linux_module("kvm_intel", "rmmod kvm_intel", "modprobe kvm_intel"),
        linux_module("kvm", "rmmod {kvm_vendor} kvm", "modprobe {kvm_vendor}"),
    ],
};

/// The default guest with the OS-7410 fixture: `vmm` is the miniature vmm module.
pub const LINUX_OS7410: Profile = Profile {
    name: "linux-os7410",
    modules: &[
        linux_module("vmm", "rmmod vmm", "modprobe vmm"),
        linux_module("kvm_amd", "rmmod kvm_amd", "modprobe kvm_amd"),
        linux_module("kvm_intel", "rmmod kvm_intel", "modprobe kvm_intel"),
    ],
    ..LINUX
};

/// The default guest built with kdump (`linux-kdump`): after a panic it boots a capture
/// kernel, and the rig copies `/proc/vmcore` out.
/// Its panic boots the capture kernel before the panic notifiers run, so QEMU hears of no
/// panic (no `GUEST_PANICKED`): the console's panic is taken as it is, and the capture kernel's
/// readiness is not missed while waiting for one.
pub const LINUX_KDUMP: Profile = Profile { name: "linux-kdump", pvpanic: false, ..LINUX };

/// Debian Linux images, built from their recipes (and user kernels registered as
/// `linux-<name>`).
pub struct Linux;

#[async_trait]
impl GuestOs for Linux {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn make_image(&self, input: &ImageInput, say: Stage<'_>) -> Option<Result<Vec<String>>> {
        make::takes(input).then(|| make::user_kernel(input, say))
    }

    fn image_recipes(&self) -> &'static [(&'static str, &'static str)] {
        &[("linux", "builds your kernel (--kernel, --name) into an image (the Linux images build themselves)")]
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &LinuxDialect
    }

    fn profile_for(&self, image: &str) -> Option<&'static Profile> {
        let user_kernel = image
            .strip_prefix("linux-")
            .is_some_and(|n| crate::guest_os::linux::image::user_kernel::image_name("linux", n).is_ok());
        if !crate::guest_os::linux::image::known_images().contains(&image) && !user_kernel {
            return None;
        }
        Some(if image.starts_with("linux-os7410") {
            &LINUX_OS7410
        } else if image == "linux-kdump" {
            &LINUX_KDUMP
        } else {
            &LINUX
        })
    }

    fn known(&self, build_dir: Option<&Path>) -> Vec<String> {
        let mut all: Vec<String> =
            crate::guest_os::linux::image::known_images().iter().map(|s| s.to_string()).collect();
        if let Some(b) = build_dir {
            all.extend(crate::guest_os::linux::image::user_kernel::registered(b));
        }
        all
    }

    fn parallel_ok(&self) -> bool {
        true
    }

    fn default_image(&self) -> Option<&'static str> {
        Some("linux")
    }

    /// A `linux-NAME` that is no built-in image must be a registered user kernel.
    fn check_image(&self, build_dir: &Path, name: &str) -> Result<(), String> {
        let user = name.starts_with("linux-") && !crate::guest_os::linux::image::known_images().contains(&name);
        match crate::guest_os::linux::image::user_kernel::load(build_dir, name) {
            Ok(None) if user => Err(format!(
                "{}. Make it from your kernel with `cargo xtask image linux --kernel <linux-image-*.deb> --name {}`",
                super::unknown_image(name, Some(build_dir)),
                &name["linux-".len()..]
            )),
            Err(e) if user => Err(format!("{e:#}")),
            _ => Ok(()),
        }
    }

    /// The package lists must serve a guest kernel.
    fn host_packages(&self) -> &'static [&'static str] {
        &["linux-image-amd64"]
    }

    /// Every image of `images/linux/`'s recipes.
    fn build_images(&self, build_dir: &Path, say: Stage<'_>) -> Result<()> {
        for name in crate::guest_os::linux::image::known_images() {
            let started = std::time::Instant::now();
            let image = crate::guest_os::linux::image::ensure_image(build_dir, name)
                .with_context(|| format!("building the guest image {name}"))?;
            say(format!(
                "image {} ready in {:.1}s ({})",
                image.name,
                started.elapsed().as_secs_f64(),
                image.dir.display()
            ));
        }
        Ok(())
    }

    /// The OS-7410 fixture series.
    fn known_bisection(&self) -> Option<KnownBisection> {
        Some(crate::guest_os::linux::image::recipe::OS7410_SERIES)
    }

    async fn load(&self, build_dir: &Path, name: &str) -> Result<Arc<dyn Target>> {
        let profile = self.profile_for(name).unwrap_or(&LINUX);
        let (dir, n) = (build_dir.to_path_buf(), name.to_string());
        let image =
            tokio::task::spawn_blocking(move || crate::guest_os::linux::image::ensure_image(&dir, &n)).await??;
        Ok(Arc::new(LinuxTarget { image, profile }))
    }
}

/// A built Linux image.
#[derive(Debug)]
pub struct LinuxTarget {
    /// The image.
    pub image: LinuxImage,
    profile: &'static Profile,
}

#[async_trait]
impl Target for LinuxTarget {
    fn profile(&self) -> &'static Profile {
        self.profile
    }

    fn keys(&self) -> SshKeys {
        self.image.ssh_keys()
    }

    fn machine(&self, shape: &Shape, cpu: &'static CpuModel, accel: Accel) -> Result<MachineSpec> {
        Ok(self.image.machine(cpu, accel, shape))
    }

    fn guest_os(&self) -> &'static dyn GuestOs {
        &Linux
    }

    fn reusable(&self) -> bool {
        true
    }

    fn kernel_release(&self) -> Option<String> {
        Some(self.image.kernel_release.clone())
    }

    /// `crash`, when the build's debug vmlinux is known.
    fn dump_tool(&self) -> Option<Box<dyn DumpTool>> {
        let vmlinux_debug = self.image.debug_vmlinux.clone()?;
        Some(Box::new(crash_tool::Crash { vmlinux_debug }))
    }

    async fn after_panic(&self, link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
        // `linux-kdump` boots a capture kernel after a panic, whose `/proc/vmcore` the rig copies.
        if *self.profile == LINUX_KDUMP { kdump(link, dir, boot_timeout).await } else { None }
    }
}

/// The capture kernel's `/proc/vmcore`, copied to `dir/vmcore.guest` (an ELF core). Returns a
/// line for the triage text.
async fn kdump(link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
    if let Err(e) = super::next_boot(link, boot_timeout).await {
        return Some(format!("kdump: the capture kernel did not come up: {e}"));
    }
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join("vmcore.guest");
    let began = Instant::now();
    let line = match link.ssh().ok()?.download("/proc/vmcore", &path, VMCORE_TIMEOUT).await {
        Ok(bytes) => format!(
            "kdump: {} ({} MiB, copied in {:.1}s from the capture kernel's /proc/vmcore)",
            path.display(),
            bytes >> 20,
            began.elapsed().as_secs_f64()
        ),
        Err(e) => format!("kdump: copying /proc/vmcore failed: {e}"),
    };
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Pattern;

    #[test]
    fn linux_ready_pattern_captures_the_boot_id() {
        let p = Pattern::regex(LINUX.ready.pattern()).unwrap();
        assert_eq!(
            p.find("RIG-READY boot_id=0f6c1d2e-77aa-4bd1-9a51-3c1b7d0e9f00").as_deref(),
            Some("0f6c1d2e-77aa-4bd1-9a51-3c1b7d0e9f00")
        );
    }

    #[test]
    fn vmm_means_the_vendors_kvm_module_on_stock_linux() {
        let m = LINUX.module("vmm").unwrap();
        assert_eq!(m.command(Vendor::Amd), "rmmod kvm_amd; modprobe kvm_amd");
        assert_eq!(m.command(Vendor::Intel), "rmmod kvm_intel; modprobe kvm_intel");
        assert_eq!(LINUX_OS7410.module("vmm").unwrap().command(Vendor::Amd), "rmmod vmm; modprobe vmm");
        assert!(LINUX.module("zfs").is_none());
        assert_eq!(LINUX.virt_module(Vendor::Amd), Some("kvm_amd"));
        assert_eq!(LINUX.virt_module(Vendor::Host), None);
    }

    #[test]
    fn images_map_to_profiles() {
        assert_eq!(Linux.profile_for("linux").unwrap().name, "linux");
        assert_eq!(Linux.profile_for("linux-kdump").unwrap().name, "linux-kdump");
        assert!(Linux.profile_for("nonesuch").is_none());
        assert!(Linux.profile_for("coal").is_none());
        for b in crate::guest_os::linux::image::recipe::OS7410_SERIES.builds {
            assert_eq!(Linux.profile_for(b).map(|p| p.name), Some("linux-os7410"), "{b}");
        }
    }

    /// The registry's bisection fixture is the OS-7410 series, as its recipe lists it.
    #[test]
    fn the_known_bisection_is_the_os7410_series() {
        let s = crate::guest_os::linux::image::recipe::OS7410_SERIES;
        let k = crate::guest_os::known_bisection().expect("a known bisection");
        assert_eq!((k.builds, k.first_bad, k.case), (s.builds, s.first_bad, s.case));
        assert!(k.builds.contains(&k.first_bad) && k.builds.len() > 2, "{k:?}");
    }
}
