//! Choosing the accelerator. `auto` asks a bounded probe whether KVM really runs a guest
//! (on some hosts /dev/kvm opens but guests hang) and falls back to TCG with a loud warning;
//! `kvm` fails clearly when KVM is unusable. Probe results are cached per host boot.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::machine::Accel;

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM if it really works, else TCG with a warning.
    Auto,
    /// KVM or a clear error.
    Kvm,
    /// TCG, no probe.
    Tcg,
}

impl FromStr for AccelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            _ => Err(format!("unknown accelerator '{s}'; valid: auto, kvm, tcg")),
        }
    }
}

impl fmt::Display for AccelChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccelChoice::Auto => "auto",
            AccelChoice::Kvm => "kvm",
            AccelChoice::Tcg => "tcg",
        })
    }
}

/// Whether KVM runs guests on this host, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmStatus {
    /// A guest booted under KVM within the probe's deadline.
    pub usable: bool,
    /// What the probe saw.
    pub detail: String,
}

/// The accelerator to use, and a warning to print loudly when it is a fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The accelerator.
    pub accel: Accel,
    /// Set when `auto` fell back to TCG.
    pub warning: Option<String>,
}

/// Decides from the user's choice and (for auto/kvm) the probe's answer. Pure.
pub fn resolve(choice: AccelChoice, kvm: Option<&KvmStatus>) -> Result<Resolved, String> {
    match (choice, kvm) {
        (AccelChoice::Tcg, _) => Ok(Resolved { accel: Accel::Tcg, warning: None }),
        (_, Some(s)) if s.usable => Ok(Resolved { accel: Accel::Kvm, warning: None }),
        (AccelChoice::Kvm, s) => Err(format!(
            "--accel kvm was asked but KVM is unusable on this host: {}; use --accel auto or tcg to run under emulation",
            s.map(|s| s.detail.as_str()).unwrap_or("not probed")
        )),
        (AccelChoice::Auto, s) => Ok(Resolved {
            accel: Accel::Tcg,
            warning: Some(format!(
                "KVM is unusable on this host ({}); falling back to TCG software emulation: guests run \
                 10-50x slower and Intel CPU models cannot nest",
                s.map(|s| s.detail.as_str()).unwrap_or("not probed")
            )),
        }),
    }
}

/// Quick static check of /dev/kvm: present and openable read-write.
pub fn dev_kvm(path: &Path) -> Result<(), String> {
    match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!("{} does not exist", path.display())),
        Err(e) => Err(format!("cannot open {}: {e}", path.display())),
    }
}

/// The key a cached probe result is valid for: this host boot and this QEMU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeKey {
    /// `/proc/sys/kernel/random/boot_id` of the host.
    pub host_boot_id: String,
    /// The QEMU binary's path and size/mtime, so an upgrade re-probes.
    pub qemu: String,
}

impl ProbeKey {
    /// The key for the current host and `qemu` binary.
    pub fn current(qemu: &Path) -> ProbeKey {
        let host_boot_id =
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_string();
        let resolved = crate::host::prereqs::which(qemu).unwrap_or_else(|| qemu.to_path_buf());
        let meta = std::fs::metadata(&resolved).ok();
        let stamp = meta.map(|m| format!("{}:{:?}", m.len(), m.modified().ok())).unwrap_or_default();
        ProbeKey { host_boot_id, qemu: format!("{}:{stamp}", resolved.display()) }
    }
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    key: ProbeKey,
    status: KvmStatus,
}

/// A cached probe result for `key`, if any.
pub fn cached(file: &Path, key: &ProbeKey) -> Option<KvmStatus> {
    let e: CacheEntry = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    (e.key == *key).then_some(e.status)
}

/// Stores a probe result.
pub fn store(file: &Path, key: &ProbeKey, status: &KvmStatus) {
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let e = CacheEntry { key: key.clone(), status: status.clone() };
    let _ = std::fs::write(file, serde_json::to_vec_pretty(&e).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(usable: bool) -> KvmStatus {
        KvmStatus {
            usable,
            detail: if usable { "booted in 0.8s" } else { "guest hung: no console output in 8s" }.into(),
        }
    }

    #[test]
    fn parse_choice() {
        assert_eq!("KVM".parse::<AccelChoice>(), Ok(AccelChoice::Kvm));
        assert_eq!("auto".parse::<AccelChoice>(), Ok(AccelChoice::Auto));
        let e = "xen".parse::<AccelChoice>().unwrap_err();
        assert!(e.contains("auto, kvm, tcg"), "{e}");
    }

    #[test]
    fn auto_uses_kvm_when_it_works() {
        let r = resolve(AccelChoice::Auto, Some(&status(true))).unwrap();
        assert_eq!(r, Resolved { accel: Accel::Kvm, warning: None });
    }

    #[test]
    fn auto_falls_back_loudly() {
        let r = resolve(AccelChoice::Auto, Some(&status(false))).unwrap();
        assert_eq!(r.accel, Accel::Tcg);
        let w = r.warning.unwrap();
        assert!(w.contains("falling back to TCG") && w.contains("guest hung"), "{w}");
    }

    #[test]
    fn demanded_kvm_fails_clearly() {
        let e = resolve(AccelChoice::Kvm, Some(&status(false))).unwrap_err();
        assert!(e.contains("--accel kvm") && e.contains("guest hung"), "{e}");
        assert_eq!(resolve(AccelChoice::Kvm, Some(&status(true))).unwrap().accel, Accel::Kvm);
    }

    #[test]
    fn tcg_needs_no_probe() {
        assert_eq!(resolve(AccelChoice::Tcg, None).unwrap(), Resolved { accel: Accel::Tcg, warning: None });
    }

    #[test]
    fn cache_is_keyed() {
        let f = std::env::temp_dir().join(format!("rig-probe-{}.json", std::process::id()));
        let k = ProbeKey { host_boot_id: "a".into(), qemu: "q".into() };
        store(&f, &k, &status(false));
        assert_eq!(cached(&f, &k), Some(status(false)));
        let other = ProbeKey { host_boot_id: "b".into(), qemu: "q".into() };
        assert_eq!(cached(&f, &other), None);
        let _ = std::fs::remove_file(&f);
    }

    #[test]
    fn dev_kvm_missing_is_explained() {
        let e = dev_kvm(Path::new("/nonexistent/kvm")).unwrap_err();
        assert!(e.contains("does not exist"));
    }
}
