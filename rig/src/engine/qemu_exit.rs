//! What an iteration during which QEMU exited or froze is: a hang in which QEMU died or its
//! monitor stopped answering says nothing about the guest's kernel (infrastructure), and an
//! iteration whose steps all "passed" while QEMU went away (a `qmp: quit`, a power-off as the
//! last step) proved nothing and must not pass.

use std::time::Duration;

use tokio::time::Instant;

use crate::guest::{Guest, GuestLink};
use crate::qemu::QemuExit;
use crate::qmp::{Qmp, QmpError};
use crate::results::outcome::Outcome;

/// How long a QEMU whose monitor closed may take to be seen exiting.
const EXIT_BOUND: Duration = Duration::from_secs(5);

/// How long QEMU's monitor gets to answer before QEMU is taken for gone or frozen.
const MONITOR_ANSWER: Duration = Duration::from_secs(5);

/// What QEMU's monitor did with a `query-status`.
enum Monitor {
    /// It answered.
    Answered,
    /// It said nothing within [`MONITOR_ANSWER`].
    Silent,
    /// It is closed (or refused).
    Closed,
}

/// Asks QEMU's monitor for its status, within [`MONITOR_ANSWER`].
async fn ask(qmp: &Qmp) -> Monitor {
    match qmp.execute(&qapi::qmp::query_status {}, MONITOR_ANSWER).await {
        Ok(_) => Monitor::Answered,
        Err(QmpError::Timeout { .. }) => Monitor::Silent,
        Err(_) => Monitor::Closed,
    }
}

/// When the guest stopped answering, whether QEMU itself did too: a monitor that does not
/// answer while QEMU still runs is the host's fault (a stopped or wedged process), not the
/// guest kernel's hang. Says so with QEMU's state from `/proc`.
pub async fn frozen(link: &GuestLink) -> Option<String> {
    match ask(link.qmp()).await {
        Monitor::Silent => Some(format!(
            "QEMU froze: its monitor did not answer query-status within {} s (QEMU pid {}: {})",
            MONITOR_ANSWER.as_secs(),
            link.qemu_pid(),
            crate::qemu::proc_state(link.qemu_pid())
        )),
        Monitor::Answered | Monitor::Closed => None,
    }
}

/// A hang in which QEMU itself died (killed, crashed, out of memory) says nothing about the
/// guest's kernel: it is infrastructure, with QEMU's exit status and stderr. A QEMU that
/// exited cleanly (the guest powered itself off) stays a hang of the case.
pub fn qemu_death(guest: &Guest, outcome: Outcome) -> Outcome {
    let Outcome::Hang { awaited, .. } = &outcome else { return outcome };
    match guest.qemu_exit() {
        Some((status, stderr)) if !status.clean() => Outcome::Infra {
            reason: format!(
                "QEMU exited during the iteration ({status}) while awaiting {awaited}; its stderr: {}",
                or_empty(&stderr)
            ),
        },
        _ => outcome,
    }
}

/// A completed iteration is checked for a QEMU that is still there: its monitor must answer.
/// When QEMU is gone, the iteration is judged by [`gone_after_steps`] (`last_step` is the
/// name of its last step).
pub async fn still_there(guest: &Guest, outcome: Outcome, last_step: Option<&str>) -> Outcome {
    if !matches!(outcome, Outcome::Completed) {
        return outcome;
    }
    if matches!(ask(guest.qmp()).await, Monitor::Answered) && guest.qemu_running() {
        return outcome;
    }
    // The monitor closed or went silent: QEMU exits, or has; wait for its status a bounded while.
    let deadline = Instant::now() + EXIT_BOUND;
    while guest.qemu_running() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gone_after_steps(outcome, last_step, guest.qemu_exit())
}

/// A completed iteration after which QEMU had exited (`exit`: its status and stderr tail):
/// a step failure naming the last step when QEMU exited cleanly (the case quit it or powered
/// the guest off, so nothing after that was checked), infrastructure when it died, and
/// infrastructure as well when QEMU is there but its monitor did not answer.
pub fn gone_after_steps(outcome: Outcome, last_step: Option<&str>, exit: Option<(QemuExit, String)>) -> Outcome {
    if !matches!(outcome, Outcome::Completed) {
        return outcome;
    }
    match exit {
        Some((status, stderr)) if status.clean() => Outcome::StepFailed {
            step: last_step.unwrap_or("the last step").to_string(),
            reason: format!(
                "QEMU exited during the iteration ({status}): a step quit QEMU or powered the guest off, so \
                 the iteration checked nothing after it and cannot pass; QEMU's stderr: {}",
                or_empty(&stderr)
            ),
        },
        Some((status, stderr)) => Outcome::Infra {
            reason: format!("QEMU exited during the iteration ({status}); its stderr: {}", or_empty(&stderr)),
        },
        None => Outcome::Infra {
            reason: format!(
                "QEMU's monitor did not answer within {} s after the iteration's steps",
                MONITOR_ANSWER.as_secs()
            ),
        },
    }
}

fn or_empty(stderr: &str) -> &str {
    if stderr.trim().is_empty() { "(empty)" } else { stderr.trim() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(status: QemuExit) -> Option<(QemuExit, String)> {
        Some((status, String::new()))
    }

    #[test]
    fn an_iteration_that_ends_without_qemu_does_not_pass() {
        let quit = gone_after_steps(Outcome::Completed, Some("qmp quit"), exited(QemuExit::Code(0)));
        assert!(
            matches!(&quit, Outcome::StepFailed { step, reason } if step == "qmp quit" && reason.contains("exit status 0")),
            "{quit:?}"
        );
        let died = gone_after_steps(Outcome::Completed, None, exited(QemuExit::Signal(9)));
        assert!(matches!(&died, Outcome::Infra { reason } if reason.contains("killed by signal 9")), "{died:?}");
        let silent = gone_after_steps(Outcome::Completed, None, None);
        assert!(matches!(&silent, Outcome::Infra { reason } if reason.contains("did not answer")), "{silent:?}");
        let failed = Outcome::StepFailed { step: "s".into(), reason: "r".into() };
        assert!(
            matches!(gone_after_steps(failed, None, exited(QemuExit::Code(0))), Outcome::StepFailed { step, .. } if step == "s")
        );
    }
}
