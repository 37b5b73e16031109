//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM, and SIGHUP (the terminal or the SSH
//! session that started the rig went away). Each stops it the same way: the guests are killed,
//! the report of what ran is written, and the rig exits 130.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The stop signals, caught from the moment this is made (their default action, ending the
/// process at once, no longer applies).
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Starts catching the stop signals. Needs a tokio runtime.
    pub fn catch() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the first stop signal; says what happened ("interrupted", ...).
    pub async fn first(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "interrupted",
            _ = self.term.recv() => "terminated",
            _ = self.hup.recv() => "hung up",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_stop_signal_is_caught_and_named() {
        let mut s = StopSignals::catch().unwrap();
        for (sig, word) in [(libc::SIGHUP, "hung up"), (libc::SIGTERM, "terminated"), (libc::SIGINT, "interrupted")] {
            // SAFETY: raising a signal in this process, whose handler was installed above.
            assert_eq!(unsafe { libc::raise(sig) }, 0);
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), s.first()).await;
            assert_eq!(got, Ok(word), "signal {sig}");
        }
    }
}
