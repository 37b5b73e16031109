//! What to dump and how: the `--dumps none|panic|all` policy, the format, a size cap and a
//! timeout.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::host::DumpFormat;

/// When the rig takes a host-side memory dump (`--dumps none|panic|all`).
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

impl FromStr for DumpPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(DumpPolicy::None),
            "panic" => Ok(DumpPolicy::Panic),
            "all" => Ok(DumpPolicy::All),
            _ => Err(format!("unknown dump policy {s:?}: expected none, panic or all")),
        }
    }
}

/// How the rig dumps. The default suits the Linux guest: a dump for every panic and every
/// hang, kdump-compressed (`crash` reads it; 26–42 MiB for 512 MiB of RAM), no size cap.
#[derive(Debug, Clone, Serialize)]
pub struct DumpOptions {
    /// When to dump.
    pub policy: DumpPolicy,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parses_and_decides() {
        assert_eq!("none".parse::<DumpPolicy>().unwrap(), DumpPolicy::None);
        assert_eq!("panic".parse::<DumpPolicy>().unwrap(), DumpPolicy::Panic);
        assert_eq!("all".parse::<DumpPolicy>().unwrap(), DumpPolicy::All);
        assert!("some".parse::<DumpPolicy>().unwrap_err().contains("none, panic or all"));
        assert!(!DumpPolicy::None.on_panic() && !DumpPolicy::None.on_hang());
        assert!(DumpPolicy::Panic.on_panic() && !DumpPolicy::Panic.on_hang());
        assert!(DumpPolicy::All.on_panic() && DumpPolicy::All.on_hang());
    }

    #[test]
    fn defaults_dump_everything_compressed() {
        let o = DumpOptions::default();
        assert_eq!(o.policy, DumpPolicy::All);
        assert_eq!(o.format, DumpFormat::KdumpZlib);
        assert_eq!(o.file_name("vmcore"), "vmcore.kdump");
    }
}
