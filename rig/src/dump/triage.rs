//! The short text a kernel engineer reads first about a failure: panic message, stack, last
//! kernel messages, each dump's path and size (or why it failed), and optionally what
//! `crash` says about a dump when the debug vmlinux is at hand.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::host::DumpInfo;
use crate::crash::CrashReport;

/// Stack frames shown.
const FRAMES: usize = 16;
/// Console lines shown.
const LAST_LINES: usize = 15;
/// How long `crash` may take on one dump.
const CRASH_TIMEOUT: Duration = Duration::from_secs(180);
/// What `crash` is asked: the panic task's stack, the end of the kernel log, the system.
const CRASH_COMMANDS: &str = "set scroll off\nsys\nbt\nlog | tail -40\nquit\n";

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

/// Runs `crash -s` on `vmcore` with `vmlinux_debug` (`sys`, `bt`, the last 40 log lines) and
/// returns its output. Fails with a plain reason when `crash` or the symbols are missing.
pub async fn crash_triage(vmcore: &Path, vmlinux_debug: &Path) -> Result<String> {
    if !crate::host::prereqs::have_program("crash") {
        bail!("no `crash` on this host (install it with `apt-get install crash`): dump triage without symbols");
    }
    if !vmlinux_debug.is_file() {
        bail!(
            "debug symbols missing: {} does not exist (the debug vmlinux comes from the 858 MB \
             linux-image-<release>-dbg package; fetch it explicitly with rig::image::debuginfo::fetch_debug_vmlinux)",
            vmlinux_debug.display()
        );
    }
    let script = vmcore.with_extension("crash-commands");
    std::fs::write(&script, CRASH_COMMANDS).with_context(|| format!("writing {}", script.display()))?;
    let child = tokio::process::Command::new("crash")
        .arg("-s")
        .arg(vmlinux_debug)
        .arg(vmcore)
        .arg("-i")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting crash")?;
    let out = tokio::time::timeout(CRASH_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("crash did not finish within {CRASH_TIMEOUT:?} on {}", vmcore.display()))?
        .context("running crash")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() && text.trim().is_empty() {
        bail!("crash failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(text)
}

/// [`triage_text`] followed, for each complete dump, by `crash`'s view of it, or the plain
/// reason there is none (no `crash`, no symbols: `vmlinux_debug` is `None` or missing).
pub async fn triage_with_crash(
    report: Option<&CrashReport>,
    console_tail: &[String],
    dumps: &[DumpInfo],
    vmlinux_debug: Option<&Path>,
) -> String {
    let mut s = triage_text(report, console_tail, dumps);
    for d in dumps.iter().filter(|d| d.ok()) {
        let _ = writeln!(s, "\ncrash on {}:", d.path.display());
        if let Some(v) = vmlinux_debug {
            let _ = writeln!(s, "  $ crash {} {}", v.display(), d.path.display());
        }
        match vmlinux_debug {
            None => {
                s.push_str("  debug symbols missing: no debug vmlinux was given (fetching it is an explicit option)\n")
            }
            Some(v) => match crash_triage(&d.path, v).await {
                Ok(out) => s.push_str(&out),
                Err(e) => {
                    let _ = writeln!(s, "  {e:#}");
                }
            },
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
    async fn crash_without_symbols_says_so() {
        let e = crash_triage(Path::new("/nonexistent/vmcore"), Path::new("/nonexistent/vmlinux"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `crash`") || e.contains("debug symbols missing"), "{e}");
        let ok = DumpInfo {
            path: "/r/vmcore.kdump".into(),
            format: DumpFormat::KdumpZlib,
            bytes: 1,
            secs: 0.8,
            start_latency_ms: 3.0,
            error: None,
            skipped: None,
        };
        let t = triage_with_crash(None, &[], &[ok], None).await;
        assert!(t.contains("debug symbols missing"), "{t}");
    }
}
