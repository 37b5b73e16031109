//! Telling a boot that stalled from a boot that is slow. A kernel that reports a soft lockup,
//! an RCU stall or a hung task while the guest boots, and whose OS console then makes no
//! progress for a grace period, is wedged: usually vCPUs starved on an overloaded host
//! running TCG, not a kernel verdict. Waiting for such a boot ends early, quoting the report.
//!
//! Pure logic: the guest feeds it console lines with the time it saw them.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;

/// How long the OS console may stay silent after a stall report before the boot counts as
/// stalled. Generous: an RCU stall warning on a loaded host can be followed by a normal boot.
pub const STALL_GRACE: Duration = Duration::from_secs(120);

/// The kernel's own words for "this CPU or task made no progress" (Linux).
static STALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"BUG: soft lockup - CPU#\d+ stuck for \d+s!",
        r"|INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?",
        r"|INFO: task \S.* blocked for more than \d+ seconds",
        r"|Watchdog detected hard LOCKUP on cpu \d+",
    ))
    .expect("stall pattern")
});

/// A line the Linux kernel printed (`[   28.123456] ...`): part of a report, not progress.
static KERNEL_LINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*\[\s*\d+\.\d+\]").expect("kernel line"));

/// Whether a console line is a kernel's stall report.
pub fn is_stall_report(line: &str) -> bool {
    STALL.is_match(line)
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
#[derive(Debug, Clone)]
pub struct StallWatch {
    grace: Duration,
    pending: Option<Stall>,
}

impl StallWatch {
    /// A watch that calls a boot stalled after `grace` without progress since a stall report.
    pub fn new(grace: Duration) -> StallWatch {
        StallWatch { grace, pending: None }
    }

    /// Takes one line seen at `now` on `console`; `os_console` says whether it is the console
    /// whose progress counts (the one the boot's ready marker appears on).
    pub fn feed(&mut self, console: &str, os_console: bool, line: &str, now: Instant) {
        if is_stall_report(line) {
            let text = line.trim().to_string();
            match &mut self.pending {
                Some(s) => s.latest = text,
                None => {
                    self.pending =
                        Some(Stall { console: console.to_string(), line: text.clone(), latest: text, seen: now })
                }
            }
        } else if os_console && is_progress(line) {
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
}

/// Progress on the OS console: any line that is neither blank nor something the Linux kernel
/// printed (a stall report's backtrace is kernel lines). On illumos consoles every line counts.
fn is_progress(line: &str) -> bool {
    !line.trim().is_empty() && !KERNEL_LINE.is_match(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOFT: &str = "[  144.210573] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [cryptomgr_test:71]";
    const RCU: &str = "[   28.113421] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:";

    #[test]
    fn recognises_the_kernels_stall_reports() {
        for l in [
            SOFT,
            RCU,
            "INFO: rcu_sched self-detected stall on CPU",
            "[  242.1] INFO: task kworker/0:1:12 blocked for more than 120 seconds.",
            "NMI watchdog: Watchdog detected hard LOCKUP on cpu 1",
        ] {
            assert!(is_stall_report(l), "{l}");
        }
        for l in ["RIG-READY 1234", "rcu: Hierarchical RCU implementation.", "creating zone adminui... done (3s)"] {
            assert!(!is_stall_report(l), "{l}");
        }
    }

    #[test]
    fn a_stall_without_progress_counts_after_the_grace() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(Duration::from_secs(60));
        w.feed("ttyS0", false, RCU, t0);
        w.feed("ttyS0", false, "[   28.2] Call Trace:", t0 + Duration::from_secs(1));
        assert_eq!(w.stalled(t0 + Duration::from_secs(59)), None);
        w.feed("ttyS0", false, SOFT, t0 + Duration::from_secs(116));
        let s = w.stalled(t0 + Duration::from_secs(120)).expect("stalled");
        assert_eq!((s.console.as_str(), s.line.as_str(), s.latest.as_str()), ("ttyS0", RCU.trim(), SOFT));
    }

    #[test]
    fn progress_on_the_os_console_clears_a_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(Duration::from_secs(60));
        w.feed("ttyS0", false, RCU, t0);
        w.feed("ttyS1", true, "creating zone imgapi... done (4s)", t0 + Duration::from_secs(10));
        assert_eq!(w.stalled(t0 + Duration::from_secs(600)), None);
    }

    #[test]
    fn kernel_lines_and_other_consoles_are_not_progress() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(Duration::from_secs(5));
        w.feed("ttyS0", true, SOFT, t0);
        w.feed("ttyS0", true, "[  144.3] RIP: 0010:crypto_xor+0x12/0x40", t0 + Duration::from_secs(1));
        w.feed("ttyS0", true, "", t0 + Duration::from_secs(2));
        w.feed("ttyS1", false, "some other console line", t0 + Duration::from_secs(3));
        assert!(w.stalled(t0 + Duration::from_secs(5)).is_some());
        // Userland speaking on the OS console (the Linux guest's init) is progress.
        w.feed("ttyS0", true, "RIG-READY 42", t0 + Duration::from_secs(6));
        assert_eq!(w.stalled(t0 + Duration::from_secs(60)), None);
    }
}
