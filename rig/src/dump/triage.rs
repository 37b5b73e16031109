//! The short text a kernel engineer reads first about a failure: panic message, stack, last
//! kernel messages, each dump's path and size (or why it failed), and optionally what the
//! image's dump tool says about a dump (its OS decides which tool, and whether there is one).

use std::fmt::Write as _;

use super::host::DumpInfo;
use crate::crash::CrashReport;
use crate::guest_os::DumpTool;

/// Stack frames shown.
const FRAMES: usize = 16;
/// Console lines shown.
const LAST_LINES: usize = 15;

/// The summary: the crash report's message and stack (when the console gave one), the last
/// console lines, and one line per dump. Pure.
pub fn triage_text(report: Option<&CrashReport>, console_tail: &[String], dumps: &[DumpInfo]) -> String {
    let mut s = String::new();
    match report {
        Some(r) => {
            let _ = writeln!(s, "{}: {}", r.kind, r.title);
            let _ = writeln!(s, "message: {}", r.message);
            if r.corrupted {
                s.push_str("(the console report is truncated or interleaved)\n");
            }
            if r.frames.is_empty() {
                s.push_str("stack: none on the console\n");
            } else {
                s.push_str("stack:\n");
                for f in r.frames.iter().take(FRAMES) {
                    let off = f.offset.map(|o| format!("+{o:#x}")).unwrap_or_default();
                    let module = f.module.as_ref().map(|m| format!(" [{m}]")).unwrap_or_default();
                    let unsure = if f.reliable { "" } else { " ?" };
                    let _ = writeln!(s, "  {}{off}{module}{unsure}", f.function);
                }
                if r.frames.len() > FRAMES {
                    let _ = writeln!(s, "  ... {} more", r.frames.len() - FRAMES);
                }
            }
        }
        None => s.push_str("no crash report on the console\n"),
    }
    s.push_str("last console lines:\n");
    if console_tail.is_empty() {
        s.push_str("  (none)\n");
    }
    for l in console_tail.iter().skip(console_tail.len().saturating_sub(LAST_LINES)) {
        let _ = writeln!(s, "  {l}");
    }
    if dumps.is_empty() {
        s.push_str("no dump taken\n");
    }
    for d in dumps {
        let _ = writeln!(s, "{}", d.summary());
    }
    s
}

/// [`triage_text`] followed, for each complete dump, by what the image's dump `tool` says
/// of it (Linux: `crash` with the build's debug vmlinux), or the plain reason it cannot.
pub async fn triage_with_tool(
    report: Option<&CrashReport>,
    console_tail: &[String],
    dumps: &[DumpInfo],
    tool: &dyn DumpTool,
) -> String {
    let mut s = triage_text(report, console_tail, dumps);
    for d in dumps.iter().filter(|d| d.ok()) {
        let _ = writeln!(s, "\n{} on {}:", tool.name(), d.path.display());
        let _ = writeln!(s, "  $ {}", tool.command(&d.path));
        match tool.read(&d.path).await {
            Ok(out) => s.push_str(&out),
            Err(e) => {
                let _ = writeln!(s, "  {e:#}");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::{CrashKind, Frame, Os};
    use crate::dump::DumpFormat;

    fn report() -> CrashReport {
        let f = |name: &str, module: Option<&str>, reliable| Frame {
            function: name.into(),
            module: module.map(Into::into),
            offset: Some(0x1c),
            reliable,
        };
        CrashReport {
            os: Os::new("linux"),
            kind: CrashKind::Panic,
            title: "sysrq: Trigger a crash".into(),
            message: "Kernel panic - not syncing: sysrq triggered crash".into(),
            frames: vec![f("sysrq_handle_crash", None, true), f("kvm_arch_hardware_enable", Some("kvm"), false)],
            corrupted: false,
            certainty: Default::default(),
            text: String::new(),
        }
    }

    #[test]
    fn summarises_report_tail_and_dumps() {
        let tail: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        let ok = DumpInfo {
            path: "/r/vmcore.kdump".into(),
            format: DumpFormat::KdumpZlib,
            bytes: 31 << 20,
            secs: 0.8,
            start_latency_ms: 3.0,
            error: None,
            skipped: None,
        };
        let bad = DumpInfo {
            error: Some("QEMU: No space left on device".into()),
            path: "/r/hang.elf".into(),
            format: DumpFormat::Elf,
            ..ok.clone()
        };
        let t = triage_text(Some(&report()), &tail, &[ok, bad]);
        assert!(
            t.starts_with(
                "panic: sysrq: Trigger a crash\nmessage: Kernel panic - not syncing: sysrq triggered crash\n"
            ),
            "{t}"
        );
        assert!(t.contains("  sysrq_handle_crash+0x1c\n  kvm_arch_hardware_enable+0x1c [kvm] ?\n"), "{t}");
        assert!(t.contains("  line 29\n") && t.contains("  line 15\n") && !t.contains("  line 14\n"), "{t}");
        assert!(t.contains("dump /r/vmcore.kdump (kdump-zlib, 31.0 MiB, 0.80 s)"), "{t}");
        assert!(t.contains("dump /r/hang.elf (elf) FAILED: QEMU: No space left on device"), "{t}");
    }

    #[test]
    fn says_what_is_missing() {
        let t = triage_text(None, &[], &[]);
        assert_eq!(t, "no crash report on the console\nlast console lines:\n  (none)\nno dump taken\n");
    }

    #[tokio::test]
    async fn a_dump_tool_reads_each_complete_dump_or_says_why_not() {
        let tool = crate::guest_os::linux::crash_tool::Crash { vmlinux_debug: "/nonexistent/vmlinux".into() };
        let ok = DumpInfo {
            path: "/r/vmcore.kdump".into(),
            format: DumpFormat::KdumpZlib,
            bytes: 1,
            secs: 0.8,
            start_latency_ms: 3.0,
            error: None,
            skipped: None,
        };
        let t = triage_with_tool(None, &[], &[ok], &tool).await;
        assert!(t.contains("crash on /r/vmcore.kdump:\n  $ crash /nonexistent/vmlinux /r/vmcore.kdump\n"), "{t}");
        assert!(t.contains("debug symbols missing") || t.contains("no `crash`"), "{t}");
    }
}
