//! Telling a boot that stalled from a boot that is slow. A kernel that reports a stall (a CPU
//! or task that made no progress) while the guest boots, and whose OS console then makes no
//! progress for a grace period, is wedged: usually vCPUs starved on an overloaded host
//! running TCG, not a kernel verdict. Waiting for such a boot ends early, quoting the report.
//!
//! Pure logic: the guest feeds it console lines with the time it saw them. What a stall
//! report looks like, and which lines are the kernel's own rather than progress, are the
//! crash dialects' words ([`Dialect::is_stall_report`], [`Dialect::is_kernel_line`]).

use std::time::{Duration, Instant};

use crate::crash::Dialect;

/// How long the OS console may stay silent after a stall report before the boot counts as
/// stalled. Generous: an RCU stall warning on a loaded host can be followed by a normal boot.
pub const STALL_GRACE: Duration = Duration::from_secs(120);

/// The dialects whose stall words a guest's boots are watched for, as a profile names them:
/// a function, since the guest-OS registry that knows every OS's dialect sits above the guest
/// layer (`crate::guest_os::dialects`). Every known OS's words, not the guest's alone: one
/// machine's consoles may carry another kernel's text (a test fixture imitating one OS on
/// another's kernel).
#[derive(Clone, Copy)]
pub struct StallDialects(pub fn() -> Vec<&'static dyn Dialect>);

impl StallDialects {
    /// The dialects.
    pub fn get(&self) -> Vec<&'static dyn Dialect> {
        (self.0)()
    }

    fn names(&self) -> Vec<&'static str> {
        self.get().iter().map(|d| d.os().name()).collect()
    }
}

/// The same dialects, by their OSes' names (a function's address is no identity: it may
/// differ between codegen units).
impl PartialEq for StallDialects {
    fn eq(&self, other: &StallDialects) -> bool {
        self.names() == other.names()
    }
}

impl Eq for StallDialects {}

impl std::fmt::Debug for StallDialects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StallDialects({:?})", self.names())
    }
}

/// A stall report that has not been followed by progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// The console that printed it.
    pub console: String,
    /// The first report line, as printed.
    pub line: String,
    /// The newest report line (`stuck for 48s` after `stuck for 23s`).
    pub latest: String,
    /// When the first report was seen.
    pub seen: Instant,
}

/// Watches the consoles of one boot: stall reports on any console, progress on the OS console.
#[derive(Clone)]
pub struct StallWatch {
    grace: Duration,
    dialects: Vec<&'static dyn Dialect>,
    pending: Option<Stall>,
}

impl StallWatch {
    /// A watch that calls a boot stalled after `grace` without progress since a stall report,
    /// in the words of `dialects`.
    pub fn new(grace: Duration, dialects: Vec<&'static dyn Dialect>) -> StallWatch {
        StallWatch { grace, dialects, pending: None }
    }

    /// Whether a console line is a stall report in any of the watch's dialects.
    pub fn is_stall_report(&self, line: &str) -> bool {
        self.dialects.iter().any(|d| d.is_stall_report(line))
    }

    /// Takes one line seen at `now` on `console`; `os_console` says whether it is the console
    /// whose progress counts (the one the boot's ready marker appears on).
    pub fn feed(&mut self, console: &str, os_console: bool, line: &str, now: Instant) {
        if self.is_stall_report(line) {
            let text = line.trim().to_string();
            match &mut self.pending {
                Some(s) => s.latest = text,
                None => {
                    self.pending =
                        Some(Stall { console: console.to_string(), line: text.clone(), latest: text, seen: now })
                }
            }
        } else if os_console && self.is_progress(line) {
            self.pending = None;
        }
    }

    /// The stall, once `grace` has passed since its report with no progress.
    pub fn stalled(&self, now: Instant) -> Option<&Stall> {
        self.pending.as_ref().filter(|s| now.saturating_duration_since(s.seen) >= self.grace)
    }

    /// How long after its report the pending stall would count, if one is pending.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Progress on the OS console: any line that is neither blank nor one a kernel printed
    /// itself (a stall report's backtrace is kernel lines), as the dialects tell.
    fn is_progress(&self, line: &str) -> bool {
        !line.trim().is_empty() && !self.dialects.iter().any(|d| d.is_kernel_line(line))
    }
}
