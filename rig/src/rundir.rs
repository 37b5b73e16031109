//! Run directories: every run keeps its evidence (QEMU command line and stderr, console logs,
//! QMP transcript, dumps, reports) in a directory of its own.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub mod lock;
pub mod prune;

/// Creates `dir` (and its parents) and makes it readable by its owner only: run and image
/// directories hold RAM snapshots, dumps, private keys and passwords.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes a file only its owner may read (mode 0600, also when it existed before).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)
}

/// Creates `<base>/<UTC time>-<label>` (with a suffix if that exists already, so parallel runs
/// never share a directory).
pub fn create(base: &Path, label: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(base).with_context(|| format!("creating run directory base {}", base.display()))?;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace([':', 'Z'], "");
    let label = sanitize(label);
    let dir = fresh(base, |n| if n == 0 { format!("{stamp}-{label}") } else { format!("{stamp}-{label}-{n}") })?;
    dir.ok_or_else(|| anyhow::anyhow!("could not create a fresh run directory under {}", base.display()))
}

/// Creates, mode 0700, the first of `name(0)`, `name(1)`, ... that does not exist yet under
/// `parent`; `None` when a thousand are taken.
fn fresh(parent: &Path, name: impl Fn(u32) -> String) -> Result<Option<PathBuf>> {
    for n in 0..1000 {
        let dir = parent.join(name(n));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(Some(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    Ok(None)
}

/// Creates a subdirectory of its own for one case × CPU × image of a run: `name` sanitized, or
/// `name-2`, `name-3`, ... when a unit of the same (or same-sanitizing) name has one already,
/// so two units never share, and overwrite, each other's evidence.
pub fn fresh_subdir(run: &Path, name: &str) -> Result<PathBuf> {
    let base = sanitize(name);
    let dir = fresh(run, |n| if n == 0 { base.clone() } else { format!("{base}-{}", n + 1) })?;
    dir.ok_or_else(|| anyhow::anyhow!("could not create a fresh directory for {name} under {}", run.display()))
}

/// The name of a snapshot run's state disk: the qcow2 file, in a guest's evidence directory,
/// that holds its saved VM states (hundreds of MB each).
pub const STATE_DISK: &str = "state.qcow2";

/// Deletes every state disk ([`STATE_DISK`]) under `run_dir`, at any depth; returns how many
/// and their bytes. A run's evidence does not need them once its guests are gone.
pub fn remove_state_disks(run_dir: &Path) -> std::io::Result<(u32, u64)> {
    let mut gone = (0, 0);
    for e in std::fs::read_dir(run_dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            let (n, b) = remove_state_disks(&e.path())?;
            gone = (gone.0 + n, gone.1 + b);
        } else if t.is_file() && e.file_name() == STATE_DISK {
            let bytes = e.metadata()?.len();
            std::fs::remove_file(e.path())?;
            gone = (gone.0 + 1, gone.1 + bytes);
        }
    }
    Ok(gone)
}

/// Keeps names filesystem- and shell-friendly.
pub fn sanitize(s: &str) -> String {
    let out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if out.is_empty() { "run".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_disks_go_at_any_depth_and_nothing_else_does() {
        let a = std::env::temp_dir().join(format!("rig-rundir-state-{}", std::process::id()));
        std::fs::create_dir_all(a.join("c")).unwrap();
        std::fs::write(a.join("c").join(STATE_DISK), [0u8; 10]).unwrap();
        std::fs::write(a.join("c").join("console.log"), "x").unwrap();
        std::fs::write(a.join(STATE_DISK), [0u8; 5]).unwrap();
        assert_eq!(remove_state_disks(&a).unwrap(), (2, 15));
        assert!(!a.join("c").join(STATE_DISK).exists() && a.join("c").join("console.log").exists());
        assert_eq!(remove_state_disks(&a).unwrap(), (0, 0));
        let _ = std::fs::remove_dir_all(&a);
    }

    #[test]
    fn directories_are_unique_and_named() {
        let base = std::env::temp_dir().join(format!("rig-rundir-{}", std::process::id()));
        let a = create(&base, "epyc boot").unwrap();
        let b = create(&base, "epyc boot").unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with("-epyc_boot"), "{name}");
        assert!(name.starts_with("20"), "{name}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&a), 0o700);
        assert!(fresh_subdir(&a, "c/epyc").unwrap().ends_with("c_epyc"));
        assert_eq!(mode(&a.join("c_epyc")), 0o700);
        assert!(fresh_subdir(&a, "c:epyc").unwrap().ends_with("c_epyc-2"));
        let secret = a.join("secret");
        std::fs::write(&secret, "old").unwrap();
        write_private(&secret, b"new").unwrap();
        assert_eq!((mode(&secret), std::fs::read_to_string(&secret).unwrap()), (0o600, "new".into()));
        let _ = std::fs::remove_dir_all(&base);
    }
}
