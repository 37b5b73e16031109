//! Getting a host ready for a run: prerequisites installed, the image built, the accelerator
//! chosen (with the cached KVM probe).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::guest_os::Target;
use crate::host::accel::{self, AccelChoice, KvmStatus, ProbeKey};
use crate::host::kvm_probe;
use crate::host::prereqs::{self, Need};
use crate::machine::Accel;
use crate::qemu::qemu_binary;

/// Programs the image recipes run on the host.
pub const IMAGE_NEEDS: &[Need] = &[
    Need { program: "apt-get", package: "apt" },
    Need { program: "dpkg-deb", package: "dpkg" },
    // The linux-os7410-* images compile their modules against the guest kernel's headers.
    Need { program: "make", package: "make" },
    Need { program: "gcc", package: "gcc" },
];

/// The host part of getting ready, for a run and for the test suite alike: installs the
/// programs the rig and the image recipes need, plus `extra` (what only the caller needs), and
/// makes sure the package lists can serve a guest kernel. Logs to `<build_dir>/host-setup.log`.
pub fn ensure_host(build_dir: &Path, extra: &[Need]) -> Result<()> {
    let needs: Vec<Need> = prereqs::BASE_NEEDS.iter().chain(IMAGE_NEEDS).chain(extra).copied().collect();
    let log = build_dir.join("host-setup.log");
    prereqs::ensure(&needs, &log)?;
    // The package lists must serve what the default image's OS builds its images from.
    let default = crate::guest_os::os_of(&crate::guest_os::default_image());
    for package in default.map_or(&[][..], |os| os.host_packages()) {
        prereqs::ensure_apt_lists(package, &log)?;
    }
    Ok(())
}

/// A host ready to boot guests.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The guest image.
    pub image: Arc<dyn Target>,
    /// The accelerator to use.
    pub accel: Accel,
    /// A warning to print loudly (e.g. the TCG fallback).
    pub warning: Option<String>,
    /// The KVM probe's finding, when one was needed.
    pub kvm: Option<KvmStatus>,
}

/// Installs what is missing, builds (or finds) the image, and resolves the accelerator.
pub async fn prepare(build_dir: &Path, image_name: &str, choice: AccelChoice) -> Result<Setup> {
    let dir = build_dir.to_path_buf();
    tokio::task::spawn_blocking(move || ensure_host(&dir, &[])).await??;
    let image = crate::guest_os::load(build_dir, image_name)
        .await
        .with_context(|| format!("preparing image '{image_name}'"))?;
    let kvm = match choice {
        AccelChoice::Tcg => None,
        AccelChoice::Auto | AccelChoice::Kvm => Some(kvm_status(build_dir, image.as_ref()).await),
    };
    let resolved = accel::resolve(choice, kvm.as_ref()).map_err(anyhow::Error::msg)?;
    Ok(Setup { image, accel: resolved.accel, warning: resolved.warning, kvm })
}

/// Whether KVM works here: the cached answer for this host boot and QEMU, else a fresh probe.
pub async fn kvm_status(build_dir: &Path, image: &dyn Target) -> KvmStatus {
    let cache = build_dir.join("host/kvm-probe.json");
    let key = ProbeKey::current(&qemu_binary());
    if let Some(s) = accel::cached(&cache, &key) {
        tracing::debug!(usable = s.usable, "kvm probe: cached");
        return s;
    }
    let dir = build_dir.join("host/kvm-probe");
    let _ = std::fs::remove_dir_all(&dir);
    let timeout = kvm_probe::probe_timeout();
    eprintln!(
        "rig: probing KVM (a test boot, at most {:.0}s; the answer is cached until the host reboots)",
        timeout.as_secs_f64()
    );
    let s = kvm_probe::probe(image, &dir, timeout).await;
    accel::store(&cache, &key, &s);
    s
}
