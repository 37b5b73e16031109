//! Standard output that never panics. A reader that went away (`... | head -1`) ends the
//! output quietly and the command goes on with its work; any other write error (a full disk)
//! is said once on stderr and turns a successful exit code into 3. A [`strict`] command (whose
//! output is its whole work) counts a reader that went away as such an error too.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: AtomicBool = AtomicBool::new(false);
static STRICT: AtomicBool = AtomicBool::new(false);
static PROSE_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// For `--json`: stdout carries the JSON alone; [`write`] (the prose) goes to stderr.
pub fn prose_to_stderr() {
    PROSE_TO_STDERR.store(true, Ordering::Relaxed);
}

/// Writes data meant for stdout whatever [`prose_to_stderr`] said (the JSON of `--json`).
pub fn data(text: &str) {
    write_stdout(text);
}

/// For commands whose output is the point (`triage`): a reader that went away is an error too.
pub fn strict() {
    STRICT.store(true, Ordering::Relaxed);
}

/// Whether stdout is gone (closed, broken or failed): a strict command stops its work.
pub fn gone_away() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Whether the process started with stdout closed: Rust's runtime then opens `/dev/null`
/// read-write in its place (a shell's `>/dev/null` opens it write-only), so writes would
/// vanish with no error.
pub fn closed_at_start() -> bool {
    let target = std::fs::read_link("/proc/self/fd/1").ok();
    let flags = std::fs::read_to_string("/proc/self/fdinfo/1").ok().and_then(|info| {
        info.lines().find_map(|l| l.strip_prefix("flags:").and_then(|f| u32::from_str_radix(f.trim(), 8).ok()))
    });
    target.is_some_and(|t| t == std::path::Path::new("/dev/null")) && flags.is_some_and(|f| f & 0o3 == 0o2)
}

/// Writes `text` to stdout (nothing once stdout is closed or broken), or to stderr after
/// [`prose_to_stderr`].
pub fn write(text: &str) {
    if PROSE_TO_STDERR.load(Ordering::Relaxed) {
        eprint!("{text}");
        return;
    }
    write_stdout(text);
}

fn write_stdout(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        gone(e);
    }
}

/// Flushes stdout at the end of the command.
pub fn flush() {
    if !CLOSED.load(Ordering::Relaxed)
        && let Err(e) = std::io::stdout().lock().flush()
    {
        gone(e);
    }
}

fn gone(e: std::io::Error) {
    CLOSED.store(true, Ordering::Relaxed);
    if e.kind() != std::io::ErrorKind::BrokenPipe || STRICT.load(Ordering::Relaxed) {
        FAILED.store(true, Ordering::Relaxed);
        eprintln!("error: writing to stdout: {e}");
    }
}

/// The exit code once stdout's fate is known: a failed write makes 0 into 3.
pub fn exit_code(code: i32) -> i32 {
    flush();
    if code == crate::exit::OK && FAILED.load(Ordering::Relaxed) { crate::exit::INFRA } else { code }
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => { crate::out::write(&format!($($arg)*)) };
}

/// `println!` through [`write`].
macro_rules! outln {
    () => { crate::out::write("\n") };
    ($($arg:tt)*) => { crate::out::write(&(format!($($arg)*) + "\n")) };
}

/// Under GitHub Actions (`$GITHUB_STEP_SUMMARY` names a file), appends the run's Markdown
/// summary there for the workflow's summary page. A failure to write it is said, and changes
/// no exit code: the report and JUnit files are the evidence, this is a view of them.
pub fn ci_summary(report: &rig::results::RunReport) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else { return };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, rig::report::markdown::render(report).as_bytes()));
    if let Err(e) = written {
        eprintln!("warning: writing the CI summary to {}: {e}", std::path::Path::new(&path).display());
    }
}
