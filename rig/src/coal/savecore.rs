//! savecore's console and syslog lines on the boot after a panic: a pure recogniser, so the
//! rig can tell "a dump was saved, here is its path" from the console alone.

use regex::Regex;
use std::sync::LazyLock;

/// One savecore line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavecoreLine {
    /// `reboot after panic: <message>` (syslog).
    RebootAfterPanic(String),
    /// `System dump time: <ctime>`.
    DumpTime(String),
    /// `Saving compressed system crash dump in <path>` or `saving system crash dump in <paths>`.
    Saving {
        /// `/var/crash/volatile/vmdump.0`, or `{unix,vmcore}.0` uncompressed.
        path: String,
        /// A compressed `vmdump.N`.
        compressed: bool,
    },
    /// `Decompress the crash dump with '<command>'`.
    Decompress(String),
}

static PATTERNS: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [
        r"reboot after panic: (.*)$",
        r"System dump time: (.*)$",
        r"([Ss])aving (?:compressed )?system crash dump in (\S+)",
        r"Decompress the crash dump with '([^']+)'",
    ]
    .map(|p| Regex::new(p).expect("savecore pattern"))
});

/// The savecore line `line` is, if any.
pub fn parse(line: &str) -> Option<SavecoreLine> {
    let [reboot, time, saving, decompress] = &*PATTERNS;
    if let Some(c) = reboot.captures(line) {
        return Some(SavecoreLine::RebootAfterPanic(c[1].trim().to_string()));
    }
    if let Some(c) = time.captures(line) {
        return Some(SavecoreLine::DumpTime(c[1].trim().to_string()));
    }
    if let Some(c) = saving.captures(line) {
        return Some(SavecoreLine::Saving { path: c[2].to_string(), compressed: line.contains("compressed") });
    }
    decompress.captures(line).map(|c| SavecoreLine::Decompress(c[1].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_documented_lines() {
        assert_eq!(
            parse("Saving compressed system crash dump in /var/crash/volatile/vmdump.0"),
            Some(SavecoreLine::Saving { path: "/var/crash/volatile/vmdump.0".into(), compressed: true })
        );
        assert_eq!(
            parse("saving system crash dump in /var/crash/volatile/{unix,vmcore}.1"),
            Some(SavecoreLine::Saving { path: "/var/crash/volatile/{unix,vmcore}.1".into(), compressed: false })
        );
        assert_eq!(
            parse("Decompress the crash dump with 'savecore -vf /var/crash/volatile/vmdump.0'"),
            Some(SavecoreLine::Decompress("savecore -vf /var/crash/volatile/vmdump.0".into()))
        );
        assert_eq!(
            parse("System dump time: Thu Dec  6 01:30:12 2018"),
            Some(SavecoreLine::DumpTime("Thu Dec  6 01:30:12 2018".into()))
        );
        assert_eq!(parse("headnode console login:"), None);
    }
}
