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

/// What a run's log file keeps: the rig's and this command line's debug lines (every step,
/// wait and QMP exchange), other crates' info, russh's session task's warnings.
pub const FILE_FILTER: &str = "info,rig=debug,xtask=debug,russh=warn";

/// The run's log file, once a run directory exists ([`to_file`]); lines before it are not kept.
static FILE: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

/// Whether [`FILE`] holds a file: the file layer's filter reads it without the lock.
static FILE_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sends logs to stderr, through the filter in force, and from [`to_file`] on also to the
/// run's log file, through [`FILE_FILTER`]; the rig's notices ([`rig::guest_os::NOTICE`]) go to
/// the terminal as `rig: <message>`, above the progress bars when there are some.
pub fn init() {
    use tracing_subscriber::filter::FilterExt;
    use tracing_subscriber::prelude::*;
    let not_notice = tracing_subscriber::filter::filter_fn(|m| m.target() != rig::guest_os::NOTICE);
    let terminal = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(not_notice.and(filter()));
    let notices = notice_layer(|| NoticeSink);
    // Until a run directory exists (and in commands that make none) the file layer takes no
    // event, so nothing is formatted for a file that is not there.
    let has_file = tracing_subscriber::filter::filter_fn(|_| FILE_ON.load(std::sync::atomic::Ordering::Relaxed));
    let file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(|| FileSink)
        .with_filter(has_file.and(tracing_subscriber::EnvFilter::new(FILE_FILTER)));
    tracing_subscriber::registry().with(terminal).with(notices).with(file).init();
}

/// The layer that shows the rig's notices, message only, through `writer`.
fn notice_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    tracing_subscriber::fmt::layer()
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(
            tracing_subscriber::filter::Targets::new().with_target(rig::guest_os::NOTICE, tracing::Level::INFO),
        )
}

/// The progress bars on screen, if any: notices are printed above them, not through them.
static BARS: std::sync::Mutex<Option<indicatif::MultiProgress>> = std::sync::Mutex::new(None);

/// Prints notices above `bars` from now on (`None`: straight to stderr again).
pub fn above(bars: Option<indicatif::MultiProgress>) {
    *BARS.lock().unwrap_or_else(|e| e.into_inner()) = bars;
}

/// Writes a notice to the terminal as `rig: <message>`.
struct NoticeSink;

impl std::io::Write for NoticeSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(b);
        for line in text.lines() {
            match BARS.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(bars) => {
                    let _ = bars.println(format!("rig: {line}"));
                }
                None => eprintln!("rig: {line}"),
            }
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps the logs from now on in `path` too (the run directory's `rig.log`). A file that
/// cannot be made is said once on stderr; the run goes on without it.
pub fn to_file(path: &std::path::Path) {
    match std::fs::File::create(path) {
        Ok(f) => {
            *FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
            FILE_ON.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Err(e) => eprintln!("warning: no log file at {}: {e}", path.display()),
    }
}

/// Writes into the run's log file, if there is one yet.
struct FileSink;

impl std::io::Write for FileSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = FILE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // A full disk loses log lines, never the run.
            let _ = f.write_all(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

    #[test]
    fn notices_show_their_message_alone_and_nothing_else() {
        use tracing_subscriber::prelude::*;
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::registry().with(notice_layer(move || Sink(sink.clone())));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: rig::guest_os::NOTICE, "building image linux...");
            tracing::info!(target: "rig::engine::worker", "rig info");
            tracing::debug!(target: rig::guest_os::NOTICE, "a debug line");
        });
        let out = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(out, "building image linux...\n");
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
