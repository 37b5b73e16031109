//! What to dump and how: the `--dumps none|panic|first:N|all` choice (which events get a
//! dump, how many per crash signature are kept), the format, a size cap and a timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::host::DumpFormat;

/// When the rig takes a host-side memory dump (`--dumps none`, `panic`; `all` and `first:N`
/// dump at both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpPolicy {
    /// Never: console, registers and the NMI only.
    None,
    /// After every panic, not after hangs.
    Panic,
    /// After every panic and every hang.
    All,
}

impl DumpPolicy {
    /// Whether a panic gets a dump.
    pub fn on_panic(self) -> bool {
        matches!(self, DumpPolicy::Panic | DumpPolicy::All)
    }

    /// Whether a hang gets a dump.
    pub fn on_hang(self) -> bool {
        self == DumpPolicy::All
    }
}

/// Dumps kept per crash signature and build by default (`--dumps first:2`).
pub const DEFAULT_PER_SIGNATURE: u32 = 2;

/// How the rig dumps. The default suits the Linux guest: a dump at every panic and every
/// hang, but only the first [`DEFAULT_PER_SIGNATURE`] per crash signature and build are
/// taken; kdump-compressed (`crash` reads it; 26–42 MiB for 512 MiB of RAM), no size cap.
#[derive(Debug, Clone, Serialize)]
pub struct DumpOptions {
    /// When to dump.
    pub policy: DumpPolicy,
    /// How many dumps to keep per crash signature and build (None: every one). Later ones are
    /// not taken, or deleted once the signature is known, and say where the kept ones are (see
    /// [`DumpLedger`](super::DumpLedger)).
    pub per_signature: Option<u32>,
    /// The dump's format.
    pub format: DumpFormat,
    /// A size cap in bytes: a dump that would exceed it is skipped (ELF: the guest's RAM is
    /// known beforehand) or deleted once written (kdump: compression makes it unknown), with
    /// the reason in [`DumpInfo::error`](super::DumpInfo::error).
    pub max_bytes: Option<u64>,
    /// How long one dump may take before the rig gives up on it.
    pub timeout: Duration,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            policy: DumpPolicy::All,
            per_signature: Some(DEFAULT_PER_SIGNATURE),
            format: DumpFormat::KdumpZlib,
            max_bytes: None,
            timeout: Duration::from_secs(60),
        }
    }
}

impl DumpOptions {
    /// The dump's file name for `stem` (`vmcore` → `vmcore.kdump` or `vmcore.elf`).
    pub fn file_name(&self, stem: &str) -> String {
        format!("{stem}.{}", self.format.extension())
    }

    /// Where the dump after a panic goes in an iteration's directory.
    pub fn panic_path(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name("vmcore"))
    }

    /// Where the dump of a hung guest goes in an iteration's directory.
    pub fn hang_path(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name("hang"))
    }

    /// Applies a `--dumps` value: `none`, `panic` (every panic, no hang), `all` (every panic
    /// and hang, every dump kept) or `first:N` (panics and hangs, the first N per crash
    /// signature and build).
    pub fn with_choice(self, choice: &str) -> Result<DumpOptions, String> {
        let (policy, per_signature) = match choice {
            "none" => (DumpPolicy::None, None),
            "panic" => (DumpPolicy::Panic, None),
            "all" => (DumpPolicy::All, None),
            _ => match choice.strip_prefix("first:").map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => (DumpPolicy::All, Some(n)),
                _ => {
                    return Err(format!(
                        "unknown dump choice {choice:?}: expected none, panic, all or first:N (N at least 1)"
                    ));
                }
            },
        };
        Ok(DumpOptions { policy, per_signature, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_decides() {
        assert!(!DumpPolicy::None.on_panic() && !DumpPolicy::None.on_hang());
        assert!(DumpPolicy::Panic.on_panic() && !DumpPolicy::Panic.on_hang());
        assert!(DumpPolicy::All.on_panic() && DumpPolicy::All.on_hang());
    }

    #[test]
    fn choices_set_policy_and_limit() {
        let pick = |s: &str| DumpOptions::default().with_choice(s).map(|o| (o.policy, o.per_signature));
        assert_eq!(pick("none"), Ok((DumpPolicy::None, None)));
        assert_eq!(pick("panic"), Ok((DumpPolicy::Panic, None)));
        assert_eq!(pick("all"), Ok((DumpPolicy::All, None)), "all keeps every dump");
        assert_eq!(pick("first:5"), Ok((DumpPolicy::All, Some(5))));
        for bad in ["first:0", "first:", "first:x", "some"] {
            assert!(pick(bad).unwrap_err().contains("none, panic, all or first:N"), "{bad}");
        }
    }

    #[test]
    fn defaults_dump_the_first_two_per_signature_compressed() {
        let o = DumpOptions::default();
        assert_eq!(o.policy, DumpPolicy::All);
        assert_eq!(o.per_signature, Some(2));
        assert_eq!(o.format, DumpFormat::KdumpZlib);
        assert_eq!(o.file_name("vmcore"), "vmcore.kdump");
    }
}
