//! What the host can say about a run's provenance: QEMU's version, the rig's git commit and
//! the host's name. Each answer is a plain string, `unknown` when it cannot be told.

use std::process::Command;

/// What a run records when an answer cannot be had.
pub const UNKNOWN: &str = "unknown";

/// The first line of `<qemu> --version` (`QEMU emulator version 7.2.x ...`).
pub fn qemu_version() -> String {
    let out = Command::new(crate::qemu::qemu_binary()).arg("--version").output();
    out.ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(|l| l.trim().to_string()))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| UNKNOWN.into())
}

/// The git commit of the rig's source tree (`git rev-parse HEAD` in the checkout this crate was
/// built from, with `-dirty` when it has changes), or `unknown` outside a checkout.
pub fn rig_commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{commit}-dirty") } else { commit }
        }
        _ => UNKNOWN.into(),
    }
}

/// The host's name (`/proc/sys/kernel/hostname`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| UNKNOWN.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_says_its_version() {
        assert!(qemu_version().starts_with("QEMU emulator version "), "{}", qemu_version());
    }

    #[test]
    fn the_commit_is_this_checkouts() {
        let c = rig_commit();
        let hex = c.trim_end_matches("-dirty");
        assert!(hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{c}");
    }

    #[test]
    fn the_host_has_a_name() {
        assert_ne!(host_name(), UNKNOWN);
    }
}
