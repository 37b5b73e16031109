//! The panic watcher of a guest session: feeds the console to the crash reader as it arrives
//! and listens for QMP's GUEST_PANICKED (pvpanic), so the engine learns of a panic at once,
//! whatever step is running.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::crash::{CrashReader, CrashReport, Dialect, Event};
use crate::guest::GuestLink;
use crate::journal::{Cursor, Journal};

/// The console has been quiet this long after a crash began: the report is complete.
const QUIET: Duration = Duration::from_millis(3000);

/// What the watcher saw.
#[derive(Debug, Clone)]
pub enum Sighting {
    /// A crash report finished (fatal or not).
    Crash(CrashReport),
    /// QEMU said the guest panicked (pvpanic).
    GuestPanicked,
}

/// A running watcher; dropping it stops its tasks.
pub struct Watcher {
    dialect: &'static dyn Dialect,
    seen: Journal<Sighting>,
    started: Arc<Mutex<Option<Instant>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Watcher {
    /// Starts watching `link`'s first console (read in the guest OS's `dialect`) and its QMP
    /// events.
    pub fn start(link: &GuestLink, dialect: &'static dyn Dialect) -> Watcher {
        let seen = Journal::new(1000);
        let started: Arc<Mutex<Option<Instant>>> = Arc::default();
        let reader = Arc::new(Mutex::new(CrashReader::new(dialect)));
        let mut chunks = link.console().subscribe();
        let (s, st, r) = (seen.clone(), started.clone(), reader.clone());
        let console = tokio::spawn(async move {
            loop {
                let pending = st.lock().unwrap().is_some();
                let next =
                    if pending { tokio::time::timeout(QUIET, chunks.recv()).await } else { Ok(chunks.recv().await) };
                let closed = matches!(next, Ok(Err(RecvError::Closed)));
                let events = match next {
                    Ok(Ok(bytes)) => r.lock().unwrap().feed(&bytes),
                    Ok(Err(RecvError::Lagged(_))) => continue,
                    Ok(Err(RecvError::Closed)) | Err(_) => r.lock().unwrap().flush(),
                };
                record(&s, &st, events);
                if closed {
                    break;
                }
            }
        });
        let qmp_link = link.clone();
        let (s, st, r) = (seen.clone(), started.clone(), reader);
        let qmp = tokio::spawn(async move {
            let mut from = qmp_link.qmp().event_cursor();
            loop {
                let far = Instant::now() + Duration::from_secs(24 * 3600);
                let Ok((at, _)) = qmp_link.qmp().wait_event("GUEST_PANICKED", from, far).await else { break };
                from = at + 1;
                s.push(Sighting::GuestPanicked);
                // The guest is paused: what the console had is all there will be.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let events = r.lock().unwrap().flush();
                record(&s, &st, events);
            }
        });
        Watcher { dialect, seen, started, tasks: vec![console, qmp] }
    }

    /// The dialect the console is read in.
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    /// The position after everything seen so far.
    pub fn cursor(&self) -> Cursor {
        self.seen.cursor()
    }

    /// Whether a crash has begun on the console and is still being read.
    pub fn crash_in_progress(&self) -> bool {
        self.started.lock().unwrap().is_some()
    }

    /// Everything seen from `from` on.
    pub fn since(&self, from: Cursor) -> Vec<Sighting> {
        self.seen.since(from)
    }

    /// The crash reports read from `from` on.
    pub fn reports_since(&self, from: Cursor) -> Vec<CrashReport> {
        self.since(from).into_iter().filter_map(|s| if let Sighting::Crash(r) = s { Some(r) } else { None }).collect()
    }

    /// Waits for a fatal sighting from `from` on: GUEST_PANICKED or a fatal crash report.
    pub async fn wait_fatal(&self, from: Cursor, deadline: Instant) -> Option<Sighting> {
        self.wait_fatal_at(from, deadline).await.map(|(_, s)| s)
    }

    /// Waits for a fatal sighting from `from` on, with its position (wait from one past it for
    /// what follows).
    pub async fn wait_fatal_at(&self, from: Cursor, deadline: Instant) -> Option<(Cursor, Sighting)> {
        self.seen.wait_for(from, deadline, |s| is_fatal(self.dialect, s).then(|| s.clone())).await.ok()
    }

    /// Whether QEMU reports the guest panicked (pvpanic) from `from` on, by `deadline`.
    pub async fn guest_panicked(&self, from: Cursor, deadline: Instant) -> bool {
        self.seen.wait_for(from, deadline, |s| matches!(s, Sighting::GuestPanicked).then_some(())).await.is_ok()
    }

    /// The report that names the bug behind `fatal`, among those read from `from` on.
    pub fn cause(&self, fatal: CrashReport, from: Cursor) -> CrashReport {
        cause(self.dialect, fatal, &self.reports_since(from))
    }

    /// After a fatal sighting: the crash report, waiting (bounded) for the reader to finish it.
    pub async fn report(&self, from: Cursor, wait: Duration) -> Option<CrashReport> {
        let deadline = Instant::now() + wait;
        let found = self
            .seen
            .wait_for(from, deadline, |s| match s {
                Sighting::Crash(r) if is_fatal(self.dialect, s) => Some(r.clone()),
                _ => None,
            })
            .await;
        let earlier = self.reports_since(from);
        match found {
            Ok((_, r)) => Some(cause(self.dialect, r, &earlier)),
            // No fatal report: take any report (e.g. an oops whose panic line never came).
            Err(_) => earlier.into_iter().next(),
        }
    }
}

fn record(seen: &Journal<Sighting>, started: &Mutex<Option<Instant>>, events: Vec<Event>) {
    for e in events {
        match e {
            Event::CrashStarted { .. } => *started.lock().unwrap() = Some(Instant::now()),
            Event::CrashComplete(r) => {
                *started.lock().unwrap() = None;
                tracing::info!(title = %r.title, "crash read off the console");
                seen.push(Sighting::Crash(r));
            }
        }
    }
}

/// The report that names the bug. A fatal report the dialect calls a follow-on (Linux's
/// `Kernel panic - not syncing: Fatal exception` after an oops, panic_on_oops) is named by the
/// earlier report, when the console was quiet long enough between the two for them to be read
/// as separate reports.
pub fn cause(dialect: &dyn Dialect, fatal: CrashReport, earlier: &[CrashReport]) -> CrashReport {
    if !dialect.is_follow_on(&fatal) {
        return fatal;
    }
    earlier
        .iter()
        .find(|r| {
            r.text != fatal.text && !matches!(r.kind, crate::crash::CrashKind::Warning | crate::crash::CrashKind::Panic)
        })
        .cloned()
        .unwrap_or(fatal)
}

/// A panic ends the iteration; what the kernel survives (as the OS's dialect says) does not.
pub fn is_fatal(dialect: &dyn Dialect, s: &Sighting) -> bool {
    match s {
        Sighting::GuestPanicked => true,
        Sighting::Crash(r) => dialect.is_fatal(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::read_all;
    use crate::guest_os::linux::LinuxDialect;

    const LINUX: &LinuxDialect = &LinuxDialect;

    #[test]
    fn a_fatal_exception_panic_is_named_by_the_oops_before_it() {
        let bug = "[    8.57] kernel BUG at vmm.c:106!\n[    8.57] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n\
[    8.57] RIP: 0010:vmm_zsd_destroy+0x97/0xa0 [vmm]\n[    8.57] Call Trace:\n[    8.57]  <TASK>\n\
[    8.57]  zsd_apply_destroy+0x9e/0x120 [zones]\n[    8.57]  </TASK>\n[    8.59] ---[ end trace 0000000000000000 ]---\n";
        let panic = "[    8.59] Kernel panic - not syncing: Fatal exception\n[    8.60] Kernel Offset: disabled\n";
        let earlier = read_all(LINUX, bug.as_bytes());
        let fatal = read_all(LINUX, panic.as_bytes()).pop().unwrap();
        assert_eq!(cause(LINUX, fatal.clone(), &earlier).title, "kernel BUG in vmm_zsd_destroy");
        assert_eq!(cause(LINUX, fatal.clone(), &[]).title, fatal.title);
        let sysrq = read_all(LINUX, b"[ 3.1] Kernel panic - not syncing: sysrq triggered crash\n").pop().unwrap();
        assert_eq!(
            cause(LINUX, sysrq.clone(), &earlier).title,
            sysrq.title,
            "only Fatal exception panics are follow-ons"
        );
    }
}
