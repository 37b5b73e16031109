//! Linux's words for a stall: the reports (soft lockup, RCU stall, hung task, hard lockup)
//! that end a wedged boot early, and the printk lines that are the kernel's own, not a boot's
//! progress. The watch itself is generic ([`crate::console::stall`]).

use std::sync::LazyLock;

use regex::Regex;

/// The kernel's own words for "this CPU or task made no progress".
static STALL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"BUG: soft lockup - CPU#\d+ stuck for \d+s!",
        r"|INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?",
        r"|INFO: task \S.* blocked for more than \d+ seconds",
        r"|Watchdog detected hard LOCKUP on cpu \d+",
    ))
    .expect("stall pattern")
});

/// A line the kernel printed (`[   28.123456] ...`): part of a report, not progress.
static KERNEL_LINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*\[\s*\d+\.\d+\]").expect("kernel line"));

/// Whether a console line is a kernel's stall report.
pub(super) fn is_stall_report(line: &str) -> bool {
    STALL.is_match(line)
}

/// Whether a console line carries the kernel's printk timestamp.
pub(super) fn is_kernel_line(line: &str) -> bool {
    KERNEL_LINE.is_match(line)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::Linux;
    use super::*;
    use crate::console::stall::StallWatch;

    const SOFT: &str = "[  144.210573] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [cryptomgr_test:71]";
    const RCU: &str = "[   28.113421] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:";

    fn watch(grace: Duration) -> StallWatch {
        StallWatch::new(grace, vec![&Linux])
    }

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
            assert!(watch(Duration::ZERO).is_stall_report(l), "{l}");
        }
        for l in ["RIG-READY 1234", "rcu: Hierarchical RCU implementation.", "creating zone adminui... done (3s)"] {
            assert!(!is_stall_report(l), "{l}");
            assert!(!watch(Duration::ZERO).is_stall_report(l), "{l}");
        }
    }

    #[test]
    fn a_stall_without_progress_counts_after_the_grace() {
        let t0 = Instant::now();
        let mut w = watch(Duration::from_secs(60));
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
        let mut w = watch(Duration::from_secs(60));
        w.feed("ttyS0", false, RCU, t0);
        w.feed("ttyS1", true, "creating zone imgapi... done (4s)", t0 + Duration::from_secs(10));
        assert_eq!(w.stalled(t0 + Duration::from_secs(600)), None);
    }

    #[test]
    fn kernel_lines_and_other_consoles_are_not_progress() {
        let t0 = Instant::now();
        let mut w = watch(Duration::from_secs(5));
        w.feed("ttyS0", true, SOFT, t0);
        w.feed("ttyS0", true, "[  144.3] RIP: 0010:crypto_xor+0x12/0x40", t0 + Duration::from_secs(1));
        w.feed("ttyS0", true, "", t0 + Duration::from_secs(2));
        w.feed("ttyS1", false, "some other console line", t0 + Duration::from_secs(3));
        assert!(w.stalled(t0 + Duration::from_secs(5)).is_some());
        // Userland speaking on the OS console (the Linux guest's init) is progress.
        w.feed("ttyS0", true, "RIG-READY 42", t0 + Duration::from_secs(6));
        assert_eq!(w.stalled(t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_watch_without_the_linux_words_sees_no_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(Duration::ZERO, Vec::new());
        w.feed("ttyS0", true, SOFT, t0);
        assert_eq!(w.stalled(t0 + Duration::from_secs(1)), None);
    }
}
