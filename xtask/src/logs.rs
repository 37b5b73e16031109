//! The terminal's logs: the rig's own warnings, and other crates' errors only. `RIG_LOG`
//! (an `EnvFilter` directive such as `debug` or `rig=info,russh=debug`) replaces the default.

/// The default filter: the rig's (and this command line's) warnings, other crates' errors,
/// and nothing from russh's session task, which logs an ERROR whenever a guest drops its SSH
/// connection by panicking or rebooting: the rig reports that itself, as the iteration's outcome.
pub const DEFAULT_FILTER: &str = "error,rig=warn,xtask=warn,russh::client::session=off";

/// The filter in force: `RIG_LOG`'s, else [`DEFAULT_FILTER`].
fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("RIG_LOG").unwrap_or_else(|_| DEFAULT_FILTER.into())
}

/// Sends logs to stderr, through the filter in force.
pub fn init() {
    tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init();
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_default_shows_the_rigs_warnings_and_others_errors_but_not_russhs_session() {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(DEFAULT_FILTER)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "rig::engine::worker", "rig warning");
            tracing::info!(target: "rig::engine::worker", "rig info");
            tracing::error!(target: "russh::client::session", "russh session error");
            tracing::error!(target: "russh::client", "russh client error");
            tracing::warn!(target: "russh::cipher", "russh warning");
            tracing::warn!(target: "rusqlite", "other warning");
        });
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let shown: Vec<&str> = out.lines().map(|l| l.rsplit(": ").next().unwrap()).collect();
        assert_eq!(shown, ["rig warning", "russh client error"], "{out}");
    }

    /// A writer into a shared buffer.
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
