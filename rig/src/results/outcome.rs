//! What an iteration came to, and whether that is what the case expected.

use serde::{Deserialize, Serialize};

use crate::case::model::{Expect, ExpectOutcome, HangMeaning};
use crate::crash::CrashReport;

/// What happened in one iteration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Every step did what it should; no panic.
    Completed,
    /// The guest panicked.
    Panic {
        /// The crash report read off the console (None when only QMP's GUEST_PANICKED told).
        report: Option<CrashReport>,
        /// The title (the report's, or a placeholder when there was no report).
        title: String,
        /// The console lines around the panic.
        excerpt: String,
        /// Host-side dumps taken (paths, sizes, or why they failed).
        dumps: Vec<crate::dump::DumpInfo>,
        /// A short text summary (message, stack, last kernel messages, dumps).
        triage: String,
    },
    /// A deadline passed: the guest stopped answering.
    Hang {
        /// What the rig was waiting for.
        awaited: String,
        /// The last console lines.
        tail: String,
        /// Registers of every vCPU, dumps, and what an NMI did (files in the iteration's directory).
        evidence: Option<Box<crate::dump::HangEvidence>>,
    },
    /// A step's expectation failed (an exit status, a CPU check).
    StepFailed {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
    /// The rig or QEMU failed: kept apart from test failures.
    Infra {
        /// What failed.
        reason: String,
    },
    /// Not run here.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Whether the iteration ran to an outcome that says something about the guest's kernel
    /// (infrastructure errors and skips do not): what comparisons count.
    pub fn judged(&self) -> bool {
        !matches!(self, Outcome::Infra { .. } | Outcome::Skipped { .. })
    }

    /// One word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Panic { .. } => "panic",
            Outcome::Hang { .. } => "hang",
            Outcome::StepFailed { .. } => "step_failed",
            Outcome::Infra { .. } => "infra",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    /// The records of the dumps it took or chose not to take (a panic's, a hang's and the
    /// hang's NMI panic's).
    pub fn dumps(&self) -> Vec<&crate::dump::DumpInfo> {
        match self {
            Outcome::Panic { dumps, .. } => dumps.iter().collect(),
            Outcome::Hang { evidence: Some(ev), .. } => ev.dump.iter().chain(ev.nmi.dump.iter()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The verdict on an iteration, against the case's expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As expected.
    Pass,
    /// Not as expected.
    Fail,
    /// The rig could not tell (infrastructure).
    Error,
    /// Not run.
    Skipped,
}

/// Judges an outcome. Pure.
pub fn judge(e: &Expect, o: &Outcome) -> Verdict {
    match (o, e.outcome) {
        (Outcome::Skipped { .. }, _) => Verdict::Skipped,
        (Outcome::Infra { .. }, _) => Verdict::Error,
        (Outcome::Hang { .. }, _) => {
            if e.hang == HangMeaning::Pass {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
        (Outcome::StepFailed { .. }, _) => Verdict::Fail,
        (Outcome::Completed, ExpectOutcome::NoPanic) => Verdict::Pass,
        (Outcome::Completed, ExpectOutcome::Panic) => Verdict::Fail,
        (Outcome::Panic { .. }, ExpectOutcome::NoPanic) => Verdict::Fail,
        (Outcome::Panic { report, title, .. }, ExpectOutcome::Panic) => {
            if e.panic.matches_panic(report.as_ref(), title) { Verdict::Pass } else { Verdict::Fail }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::read_all;
    use crate::guest_os::linux::LinuxDialect;

    fn panic_outcome(text: &str) -> Outcome {
        let r = read_all(&LinuxDialect, text.as_bytes()).into_iter().next().expect("a report");
        Outcome::Panic {
            title: r.title.clone(),
            report: Some(r),
            excerpt: String::new(),
            dumps: vec![],
            triage: String::new(),
        }
    }

    const BUG: &str = "[   10.1] kernel BUG at /build/vmm.c:120!\n[   10.1] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n\
[   10.1] RIP: 0010:vmm_zsd_destroy+0x1a/0x30 [vmm]\n[   10.1] Call Trace:\n[   10.1]  <TASK>\n\
[   10.1]  zsd_apply_destroy+0x40/0x80 [zones]\n[   10.1]  </TASK>\n[   10.1] Kernel panic - not syncing: Fatal exception\n";

    #[test]
    fn no_panic_expectation() {
        let e = Expect::default();
        assert_eq!(judge(&e, &Outcome::Completed), Verdict::Pass);
        assert_eq!(judge(&e, &panic_outcome(BUG)), Verdict::Fail);
        assert_eq!(
            judge(&e, &Outcome::Hang { awaited: "x".into(), tail: String::new(), evidence: None }),
            Verdict::Fail
        );
        assert_eq!(judge(&e, &Outcome::Infra { reason: "x".into() }), Verdict::Error);
    }

    #[test]
    fn panic_expectation_with_signature() {
        let mut e = Expect { outcome: ExpectOutcome::Panic, ..Expect::default() };
        assert_eq!(judge(&e, &Outcome::Completed), Verdict::Fail, "a case expecting a panic fails when none comes");
        assert_eq!(judge(&e, &panic_outcome(BUG)), Verdict::Pass);
        e.panic.title = Some("kernel BUG in vmm_zsd_destroy".into());
        e.panic.function = Some("zsd_apply_destroy".into());
        assert_eq!(judge(&e, &panic_outcome(BUG)), Verdict::Pass);
        e.panic.title = Some("kernel BUG in something_else".into());
        assert_eq!(judge(&e, &panic_outcome(BUG)), Verdict::Fail);
    }

    #[test]
    fn hang_can_be_tolerated() {
        let e = Expect { hang: HangMeaning::Pass, ..Expect::default() };
        assert_eq!(
            judge(&e, &Outcome::Hang { awaited: "x".into(), tail: String::new(), evidence: None }),
            Verdict::Pass
        );
    }
}
