//! savecore's console and syslog lines on the boot after a panic: a pure recogniser, so the
//! rig can tell "a dump was saved, here is its path" from the console alone; and the commands
//! the rig runs over it. From illumos-gate `usr/src/cmd/savecore/savecore.c`: its messages
//! carry a `savecore: ` prefix (stderr) or a syslog prefix, `reboot after panic:` goes to the
//! log only, and the `Decompress ...` message has the command on a line of its own.

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
        r"(?:Decompress the crash dump with |^\s*)'(savecore -vf [^']+)'",
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

/// Where SmartOS's savecore keeps dumps.
pub const CRASH_DIR: &str = "/var/crash/volatile";

/// How long the guest waits for the boot-time savecore. svc-dumpadm runs the first savecore in
/// its own foreground on SmartOS (the root is a ramdisk, not ZFS; illumos `svc-dumpadm`), the
/// second in the background; neither holds sshd, so SSH may answer while a dump is written.
pub const SAVECORE_WAIT_SECS: u32 = 300;

/// Prints the newest saved dump's path (empty when there is none), once the boot-time savecore
/// is done: it may still be writing `vmdump.N`, so the guest polls (once a second, up to
/// [`SAVECORE_WAIT_SECS`] in all) until no savecore runs and a dump is there, and then until
/// that dump's size has held for 3 s (a savecore the process list does not show, or one that
/// has not yet written its last part, is not read half-written).
pub fn newest_dump_command() -> String {
    format!(
        "i=0; while [ $i -lt {SAVECORE_WAIT_SECS} ] && {{ pgrep -x savecore >/dev/null || \
         ! ls {CRASH_DIR}/vmdump.* >/dev/null 2>&1; }}; do sleep 1; i=$((i + 1)); done; \
         f=$(ls -t {CRASH_DIR}/vmdump.* 2>/dev/null | head -1); \
         if [ -n \"$f\" ]; then a=; b=$(wc -c <\"$f\"); while [ \"$a\" != \"$b\" ] && [ $i -lt {SAVECORE_WAIT_SECS} ]; \
         do sleep 3; i=$((i + 3)); a=$b; b=$(wc -c <\"$f\"); done; fi; echo \"$f\""
    )
}

/// Decompresses `vmdump` (`/var/crash/volatile/vmdump.N`) into `unix.N`/`vmcore.N` and prints
/// mdb's summary of it: status, the panic stack and the message buffer.
pub fn triage_command(vmdump: &str) -> Option<String> {
    let n = vmdump.rsplit('.').next().filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))?;
    Some(format!(
        "cd {CRASH_DIR} && savecore -vf {vmdump} {CRASH_DIR} >/dev/null 2>&1; mdb -e '::status; $C; ::msgbuf' unix.{n} vmcore.{n} 2>&1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triage_commands() {
        let newest = newest_dump_command();
        assert!(newest.starts_with("i=0; while [ $i -lt 300 ] && { pgrep -x savecore >/dev/null || "), "{newest}");
        assert!(newest.contains("f=$(ls -t /var/crash/volatile/vmdump.* 2>/dev/null | head -1)"), "{newest}");
        assert!(newest.ends_with("done; fi; echo \"$f\""), "{newest}");
        assert_eq!(
            triage_command("/var/crash/volatile/vmdump.3").unwrap(),
            "cd /var/crash/volatile && savecore -vf /var/crash/volatile/vmdump.3 /var/crash/volatile >/dev/null 2>&1; \
             mdb -e '::status; $C; ::msgbuf' unix.3 vmcore.3 2>&1"
        );
        assert!(triage_command("/var/crash/volatile/vmdump.x").is_none());
        assert!(triage_command("").is_none());
    }

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
        // As syslog carries them, with the command on its own line.
        let prefix = "Nov 29 22:30:01 headnode savecore: [ID 748169 auth.error] ";
        assert_eq!(
            parse(&format!("{prefix}Saving compressed system crash dump in /var/crash/volatile/vmdump.1")),
            Some(SavecoreLine::Saving { path: "/var/crash/volatile/vmdump.1".into(), compressed: true })
        );
        assert_eq!(parse(&format!("{prefix}Decompress the crash dump with ")), None);
        assert_eq!(
            parse("'savecore -vf /var/crash/volatile/vmdump.1'"),
            Some(SavecoreLine::Decompress("savecore -vf /var/crash/volatile/vmdump.1".into()))
        );
    }
}
