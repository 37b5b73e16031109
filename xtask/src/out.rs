//! Standard output that never panics. A reader that went away (`... | head -1`) ends the
//! output quietly and the command goes on with its work; any other write error (a full disk)
//! is said once on stderr and turns a successful exit code into 3.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout (nothing once stdout is closed or broken).
pub fn write(text: &str) {
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
    if e.kind() != std::io::ErrorKind::BrokenPipe {
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
