//! The hang escalation: freeze the guest, read every vCPU's registers, keep the console
//! tail, take a host-side dump, then inject an NMI so a guest set up for it
//! (`unknown_nmi_panic=1`) panics, and dump that panic too. Bounded; a dead or stuck QEMU
//! yields partial evidence with notes, never an error that loses the rest.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::flush::flush_panic_console;
use super::host::{DumpInfo, QMP_CALL, dump_unless};
use super::options::DumpOptions;
use crate::console::{Console, Pattern};
use crate::crash::Dialect;
use crate::guest::GuestLink;
use crate::qmp::QmpError;

/// How long the guest gets to panic after the NMI.
pub const NMI_WAIT: Duration = Duration::from_secs(5);
/// How long the NMI panic gets to reach the console once the guest is resumed.
const FLUSH_WAIT: Duration = Duration::from_secs(3);
/// Console lines kept as the tail.
const TAIL_LINES: usize = 50;
/// After the NMI panic, the console counts as drained once quiet this long.
const QUIET: Duration = Duration::from_millis(300);

/// Everything the rig collected about a hung guest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HangEvidence {
    /// HMP `info registers -a`: every vCPU's registers, taken with the guest paused.
    pub registers: String,
    /// QMP `query-cpus-fast` (vCPU index, thread id, topology), JSON null if unavailable.
    pub cpus: Value,
    /// The last console lines before the escalation.
    pub console_tail: Vec<String>,
    /// The host-side dump of the hung state (when the policy asks for hang dumps).
    pub dump: Option<DumpInfo>,
    /// What the NMI did.
    pub nmi: NmiResult,
    /// Seconds the capture took.
    pub secs: f64,
    /// What could not be collected, and why (QEMU gone, a monitor timeout, a write error).
    pub notes: Vec<String>,
}

/// What injecting an NMI did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NmiResult {
    /// QEMU accepted `inject-nmi`.
    pub injected: bool,
    /// A `GUEST_PANICKED` event followed within [`NMI_WAIT`].
    pub guest_panicked: bool,
    /// Console lines printed after the NMI. A kernel may print the NMI panic in NMI context,
    /// paused by pvpanic before the flush, so the rig resumes the guest after the dump until
    /// its end-of-panic line shows (see [`flush_panic_console`]).
    pub console_after: Vec<String>,
    /// A host-side dump of the NMI panic (when it panicked and the policy asks for hang dumps):
    /// its log buffer holds the kernel's own NMI report.
    pub dump: Option<DumpInfo>,
}

/// The longest [`capture_hang`] takes with these options: one QMP timeout (after which the
/// monitor counts as gone), two dumps, the NMI wait, the console flush and slack.
pub fn hang_budget(opts: &DumpOptions) -> Duration {
    QMP_CALL * 2 + opts.timeout * 2 + NMI_WAIT + FLUSH_WAIT + Duration::from_secs(5)
}

/// QMP calls that stop after the monitor is gone (closed, or stuck past a timeout), so a
/// dead QEMU costs one timeout at most; every failure becomes a note.
struct Calls {
    gone: bool,
    notes: Vec<String>,
}

impl Calls {
    async fn run<T>(&mut self, what: &str, call: impl Future<Output = Result<T, QmpError>>) -> Option<T> {
        if self.gone {
            return None;
        }
        match call.await {
            Ok(v) => Some(v),
            Err(e) => {
                if matches!(e, QmpError::Closed(_) | QmpError::Timeout { .. }) {
                    self.gone = true;
                }
                self.notes.push(format!("{what}: {e}"));
                None
            }
        }
    }
}

/// Collects the evidence of a hang into `dir` (`registers.txt`, `cpus.json`, the dumps) and
/// escalates with an NMI. When `skip` says why not (the hang's signature has its dumps
/// already), neither dump is taken and both records say why. Returns within [`hang_budget`];
/// the guest is left paused (or panicked) for the caller to kill.
pub async fn capture_hang(
    link: &GuestLink,
    dialect: &dyn Dialect,
    dir: &Path,
    opts: &DumpOptions,
    skip: Option<String>,
) -> HangEvidence {
    let began = Instant::now();
    let qmp = link.qmp();
    let console_tail = link.console().tail(TAIL_LINES);
    let mut c = Calls { gone: qmp.is_closed(), notes: Vec::new() };
    if c.gone {
        c.notes.push("QEMU had exited: only the console tail is left".into());
    }

    let status = c.run("query-status", qmp.execute(&qapi::qmp::query_status {}, QMP_CALL)).await;
    let already_panicked = status.as_ref().is_some_and(|s| matches!(s.status, qapi::qmp::RunState::guest_panicked));
    c.run("pausing the guest", qmp.execute(&qapi::qmp::stop {}, QMP_CALL)).await;
    let registers = c.run("info registers", qmp.hmp("info registers -a", QMP_CALL)).await.unwrap_or_default();
    let cpus = c
        .run("query-cpus-fast", qmp.execute_raw("query-cpus-fast", Value::Null, QMP_CALL))
        .await
        .unwrap_or(Value::Null);
    write(&mut c.notes, &dir.join("registers.txt"), registers.as_bytes());
    write(&mut c.notes, &dir.join("cpus.json"), serde_json::to_string_pretty(&cpus).unwrap_or_default().as_bytes());

    let dump = match (opts.policy.on_hang(), c.gone) {
        (true, false) => Some(dump_unless(link, &opts.hang_path(dir), opts, skip.as_deref()).await),
        _ => None,
    };
    if dump
        .as_ref()
        .is_some_and(|d| d.error.as_deref().is_some_and(|e| e.contains("QEMU exited") || e.contains("QEMU has exited")))
    {
        c.gone = true;
    }

    let nmi = if already_panicked {
        c.notes.push("the guest had already panicked: no NMI injected".into());
        NmiResult { guest_panicked: true, ..NmiResult::default() }
    } else {
        nmi(link, dialect, dir, opts, skip, &mut c).await
    };
    let secs = began.elapsed().as_secs_f64();
    tracing::info!(secs, nmi_panicked = nmi.guest_panicked, notes = c.notes.len(), "hang evidence captured");
    HangEvidence { registers, cpus, console_tail, dump, nmi, secs, notes: c.notes }
}

/// Resumes the guest, injects an NMI and waits for the panic it should cause.
async fn nmi(
    link: &GuestLink,
    dialect: &dyn Dialect,
    dir: &Path,
    opts: &DumpOptions,
    skip: Option<String>,
    c: &mut Calls,
) -> NmiResult {
    let qmp = link.qmp();
    let mut r = NmiResult::default();
    c.run("resuming the guest for the NMI", qmp.execute(&qapi::qmp::cont {}, QMP_CALL)).await;
    let (events, lines) = (qmp.event_cursor(), link.console().cursor());
    r.injected = c.run("inject-nmi", qmp.execute(&qapi::qmp::inject_nmi {}, QMP_CALL)).await.is_some();
    if !r.injected {
        return r;
    }
    match qmp.wait_event("GUEST_PANICKED", events, Instant::now() + NMI_WAIT).await {
        Ok(_) => r.guest_panicked = true,
        Err(e) => {
            c.notes.push(format!("the guest did not panic after the NMI: {e}"));
            if matches!(e, QmpError::Closed(_)) {
                c.gone = true;
            }
        }
    }
    if r.guest_panicked && !c.gone {
        if opts.policy.on_hang() {
            let path = dir.join(opts.file_name("nmi-panic"));
            r.dump = Some(dump_unless(link, &path, opts, skip.as_deref()).await);
        }
        // The NMI panic was printed in NMI context: it reaches the console only now.
        flush_panic_console(link, dialect, FLUSH_WAIT).await;
    } else {
        drain(link.console()).await;
        // Keep the state still for whoever looks next.
        c.run("pausing the guest after the NMI", qmp.execute(&qapi::qmp::stop {}, QMP_CALL)).await;
    }
    r.console_after = link.console().lines_since(lines).into_iter().map(|l| l.text).collect();
    r
}

/// Waits until the console has been quiet for [`QUIET`] (at most two seconds), to collect
/// what an NMI that caused no panic made the guest print.
async fn drain(console: &Console) {
    let any = Pattern::literal("");
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        let quiet_until = (Instant::now() + QUIET).min(end);
        if console.wait_for(&any, console.cursor(), quiet_until).await.is_err() {
            break;
        }
    }
}

fn write(notes: &mut Vec<String>, path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        notes.push(format!("writing {}: {e}", path.display()));
    }
}
