//! Runs steps on a guest: sequential blocks, background loops, races, reboots. Every wait is
//! bounded; a connection lost to a reboot the case asked for is expected, not an error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::ctx::Ctx;
use super::reloads::{self, LoopReport, Reload, Unload};
use super::shell;
use crate::case::model::Background;
use crate::case::{RebootVia, Step, StepKind};
use crate::console::Pattern;
use crate::guest::GuestError;
use crate::profile::{ModuleReload, ZoneCommands};
use crate::results::step::StepDetail;
use crate::ssh::{ExecOutput, SshError};

/// Default deadline of an SSH command.
const SSH_TIMEOUT: Duration = Duration::from_secs(60);
/// Default deadline of a console wait.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(60);
/// QMP command deadline.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a step did not complete.
#[derive(Debug, Clone)]
pub enum StepError {
    /// The step's expectation failed (exit status, CPU check).
    Failed {
        /// The step.
        step: String,
        /// Why.
        reason: String,
    },
    /// The guest stopped answering (SSH dropped or timed out, no new boot): a panic or a hang.
    Guest {
        /// The step.
        step: String,
        /// What was seen.
        reason: String,
    },
    /// Cut short by a reboot the case itself issued (background work and race branches).
    Interrupted,
    /// The rig or QEMU failed.
    Infra(String),
}

static LOOP_IDS: AtomicU64 = AtomicU64::new(1);

/// How often a running in-guest loop's report is read.
const LOOP_POLL: Duration = Duration::from_secs(2);

type BoxFut<'a> = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;

/// Runs a block: steps in order, with its background steps stopped when the block ends.
pub fn run_block<'a>(ctx: &'a Ctx, steps: &'a [Step]) -> BoxFut<'a> {
    Box::pin(async move {
        let mut bgs: Vec<Bg> = Vec::new();
        let mut result = Ok(());
        for s in steps {
            if let StepKind::Background(b) = &s.kind {
                bgs.push(Bg::start(ctx, b));
                continue;
            }
            if let Err(e) = run_step(ctx, s).await {
                result = Err(e);
                break;
            }
        }
        for bg in bgs {
            let r = bg.stop(ctx).await;
            if result.is_ok() && !matches!(r, Ok(()) | Err(StepError::Interrupted)) {
                result = r;
            }
        }
        result
    })
}

/// How long halting or booting zones may take by default (coal has ~22 service zones).
const ZONES_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs one step (not a background one: those belong to a block).
pub async fn run_step(ctx: &Ctx, s: &Step) -> Result<(), StepError> {
    let desc = s.kind.describe();
    *ctx.current.lock().unwrap() = desc.clone();
    let timeout = s.timeout_secs.map(Duration::from_secs);
    match &s.kind {
        StepKind::Ssh { cmd, expect_status } => {
            ssh(ctx, &desc, cmd, *expect_status, timeout.unwrap_or(SSH_TIMEOUT)).await
        }
        StepKind::ReloadModule(m) => {
            let Some(reload) = ctx.link.profile().module(m) else {
                return Err(StepError::Infra(format!("profile cannot reload {m}")));
            };
            reload_module(ctx, &desc, reload, timeout.unwrap_or(SSH_TIMEOUT)).await
        }
        StepKind::HaltZones(n) => zones(ctx, &desc, |z| z.halt_command(*n), timeout).await,
        StepKind::BootZones => zones(ctx, &desc, ZoneCommands::boot_command, timeout).await,
        StepKind::Qmp { execute, arguments } => {
            match ctx.link.qmp().execute_raw(execute, arguments.clone(), timeout.unwrap_or(QMP_TIMEOUT)).await {
                Ok(v) => {
                    ctx.note(&desc, format!("ok {v}"));
                    Ok(())
                }
                Err(crate::qmp::QmpError::Command { class, desc: d, .. }) => {
                    Err(StepError::Failed { step: desc, reason: format!("{class}: {d}") })
                }
                Err(e) => Err(StepError::Infra(e.to_string())),
            }
        }
        StepKind::WaitConsole(p) => {
            let pattern = Pattern::regex(p).map_err(|e| StepError::Infra(e.to_string()))?;
            let from = ctx.link.console().cursor();
            let deadline = Instant::now() + timeout.unwrap_or(CONSOLE_TIMEOUT);
            match ctx.link.console().wait_for(&pattern, from, deadline).await {
                Ok(m) => {
                    ctx.note(&desc, format!("matched: {}", m.line.text));
                    Ok(())
                }
                Err(e) => Err(StepError::Guest { step: desc, reason: e.to_string() }),
            }
        }
        StepKind::Sleep(j) => {
            let d = ctx.jitter(j.min_ms, j.max_ms);
            tokio::time::sleep(d).await;
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            ctx.note_with(&desc, format!("slept {ms} ms"), None, Some(StepDetail::Slept { ms }));
            Ok(())
        }
        StepKind::Reboot(via) => reboot(ctx, &desc, Some(*via), timeout.unwrap_or(ctx.boot_timeout)).await,
        StepKind::WaitBoot => reboot(ctx, &desc, None, timeout.unwrap_or(ctx.boot_timeout)).await,
        StepKind::Race(r) => {
            let mut tasks = Vec::new();
            for branch in &r.branches {
                let offset = ctx.jitter(r.offset_ms.min_ms, r.offset_ms.max_ms);
                let (c, b) = (ctx.clone(), branch.clone());
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(offset).await;
                    run_block(&c, &b).await
                }));
            }
            let mut result = Ok(());
            for t in tasks {
                let r = t.await.unwrap_or_else(|e| Err(StepError::Infra(format!("race branch panicked: {e}"))));
                result = worse(result, r);
            }
            ctx.note(&desc, if result.is_ok() { "ok".into() } else { format!("{result:?}") });
            match result {
                Err(StepError::Interrupted) => Ok(()),
                r => r,
            }
        }
        StepKind::Repeat(r) => {
            for _ in 0..r.times {
                run_block(ctx, &r.steps).await?;
            }
            Ok(())
        }
        StepKind::CheckCpu => {
            let check = crate::cpu_check::check_cpu(&ctx.link, ctx.cpu, ctx.nested)
                .await
                .map_err(|e| StepError::Guest { step: desc.clone(), reason: format!("{e:#}") })?;
            ctx.note(&desc, check.findings.join("; "));
            if check.ok { Ok(()) } else { Err(StepError::Failed { step: desc, reason: check.findings.join("; ") }) }
        }
        StepKind::Background(_) => unreachable!("background steps are started by run_block"),
    }
}

/// Halts or boots zones with the profile's command for it.
async fn zones(
    ctx: &Ctx,
    desc: &str,
    command: impl FnOnce(&ZoneCommands) -> String,
    timeout: Option<Duration>,
) -> Result<(), StepError> {
    let profile = ctx.link.profile();
    let Some(z) = &profile.zones else {
        return Err(StepError::Infra(format!("the {} profile has no zones", profile.name)));
    };
    ssh(ctx, desc, &command(z), Some(0), timeout.unwrap_or(ZONES_TIMEOUT)).await
}

/// Keeps the more serious of two results.
fn worse(a: Result<(), StepError>, b: Result<(), StepError>) -> Result<(), StepError> {
    fn rank(r: &Result<(), StepError>) -> u8 {
        match r {
            Ok(()) => 0,
            Err(StepError::Interrupted) => 1,
            Err(StepError::Failed { .. }) => 2,
            Err(StepError::Guest { .. }) => 3,
            Err(StepError::Infra(_)) => 4,
        }
    }
    if rank(&b) > rank(&a) { b } else { a }
}

/// Runs a command over SSH; a connection lost to a reboot is `Interrupted`.
async fn exec(ctx: &Ctx, desc: &str, cmd: &str, timeout: Duration) -> Result<ExecOutput, StepError> {
    let epoch = ctx.epoch();
    let lost = |e: String| {
        if ctx.epoch() != epoch || ctx.rebooting() {
            ctx.note(desc, "interrupted by reboot");
            StepError::Interrupted
        } else {
            StepError::Guest { step: desc.to_string(), reason: e }
        }
    };
    let session = ctx.link.ssh().map_err(|e| lost(e.to_string()))?;
    match session.exec(cmd, timeout).await {
        Ok(out) => Ok(out),
        Err(e @ (SshError::Disconnected(_) | SshError::Timeout { .. })) => Err(lost(e.to_string())),
        Err(e) => Err(StepError::Infra(format!("{desc}: {e}"))),
    }
}

async fn ssh(ctx: &Ctx, desc: &str, cmd: &str, expect: Option<u32>, timeout: Duration) -> Result<(), StepError> {
    let out = exec(ctx, desc, cmd, timeout).await?;
    let status = out.status.map(|s| s.to_string()).unwrap_or_else(|| "none".into());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("").chars().take(200).collect::<String>();
    ctx.note(desc, if last.is_empty() { format!("exit {status}") } else { format!("exit {status}: {last}") });
    match expect {
        Some(want) if out.status != Some(want) => Err(StepError::Failed {
            step: desc.to_string(),
            reason: format!(
                "exit status {status}, expected {want}; stderr: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
        _ => Ok(()),
    }
}

/// A command's output as the guest said it: stderr first (where modunload and rmmod complain).
fn words(out: &ExecOutput) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout))
}

/// One reload from the host: the unload, then the load, each checked and counted; a failure
/// quotes the guest (a busy unload fails only under `unload_busy: fail`).
async fn reload_module(ctx: &Ctx, desc: &str, m: &ModuleReload, timeout: Duration) -> Result<(), StepError> {
    let vendor = ctx.cpu.vendor;
    let attempt = async {
        let u = exec(ctx, desc, &m.unload_command(vendor), timeout).await?;
        let unload = reloads::classify_unload(u.status, &words(&u), m);
        let l = exec(ctx, desc, &m.load_command(vendor), timeout).await?;
        let load = match l.status {
            Some(0) => Ok(()),
            s => {
                Err(format!("exit {}: {}", s.map_or("none".into(), |s| s.to_string()), reloads::first_line(&words(&l))))
            }
        };
        Ok(Reload { unload, load })
    };
    let r = match attempt.await {
        Ok(r) => r,
        Err(e) => {
            ctx.reloads.lock().unwrap().attempted += 1;
            return Err(e);
        }
    };
    ctx.reloads.lock().unwrap().add(&r);
    let said = |u: &Unload| match u {
        Unload::Ok => "unloaded".to_string(),
        Unload::Busy(w) => format!("unload busy: {w}"),
        Unload::Absent(w) => format!("nothing to unload: {w}"),
        Unload::Failed(w) => format!("unload failed: {w}"),
    };
    let load = match &r.load {
        Ok(()) => "loaded".to_string(),
        Err(w) => format!("load failed: {w}"),
    };
    ctx.note(desc, format!("{}; {load}", said(&r.unload)));
    match reloads::reload_failure(&r, ctx.unload_busy) {
        Some(reason) => Err(StepError::Failed { step: desc.to_string(), reason }),
        None => Ok(()),
    }
}

/// Reads every in-guest loop's report as it stands, before a reboot the case issues ends them.
async fn read_loop_reports(ctx: &Ctx) {
    let ids: Vec<u64> = ctx.loops.lock().unwrap().keys().copied().collect();
    let Ok(session) = ctx.link.ssh() else { return };
    for id in ids {
        if let Ok(out) = session.exec(&shell::report_command(id), Duration::from_secs(10)).await
            && let Some(r) = LoopReport::parse(&out.stdout_str())
        {
            ctx.loop_report(id, r, true);
        }
    }
}

/// Reboots (or, with `via` None, waits for a reboot something else caused) and waits for the
/// new boot: a new nonce on the console and SSH answering.
async fn reboot(ctx: &Ctx, desc: &str, via: Option<RebootVia>, timeout: Duration) -> Result<(), StepError> {
    let from = ctx.link.console().cursor();
    let previous = ctx.link.boot().map(|b| b.boot_id);
    let since = Instant::now();
    ctx.epoch.fetch_add(1, Ordering::SeqCst);
    /// Counts the reboot as in progress until it ends, however it ends (a deadline drops it).
    struct InProgress(Arc<std::sync::atomic::AtomicU64>);
    impl Drop for InProgress {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    if via.is_some() {
        read_loop_reports(ctx).await;
    }
    ctx.rebooting.fetch_add(1, Ordering::SeqCst);
    let _in_progress = InProgress(ctx.rebooting.clone());
    reboot_and_wait(ctx, desc, via, timeout, from, previous, since).await
}

async fn reboot_and_wait(
    ctx: &Ctx,
    desc: &str,
    via: Option<RebootVia>,
    timeout: Duration,
    from: crate::journal::Cursor,
    previous: Option<String>,
    since: Instant,
) -> Result<(), StepError> {
    match via {
        Some(RebootVia::Ssh) => {
            let session = ctx.link.ssh().map_err(|e| StepError::Guest { step: desc.into(), reason: e.to_string() })?;
            match session.spawn_detached(ctx.link.profile().reboot_command, Duration::from_secs(10)).await {
                Ok(()) | Err(SshError::Disconnected(_)) => {}
                Err(e) => {
                    return Err(StepError::Guest { step: desc.into(), reason: format!("issuing the reboot: {e}") });
                }
            }
        }
        Some(RebootVia::Qmp) => {
            ctx.link
                .qmp()
                .execute(&qapi::qmp::system_reset {}, QMP_TIMEOUT)
                .await
                .map_err(|e| StepError::Infra(e.to_string()))?;
        }
        None => {}
    }
    match ctx.link.wait_boot(from, previous.as_deref(), since, Instant::now() + timeout).await {
        Ok(b) => {
            ctx.note_boot(desc, format!("new boot {} ready in {:.1}s", b.boot_id, b.ssh_secs), Some(b));
            Ok(())
        }
        Err(GuestError::NotReady(e)) => {
            Err(StepError::Guest { step: desc.into(), reason: format!("the guest did not come back: {e}") })
        }
        Err(e @ GuestError::Stalled { .. }) => Err(StepError::Infra(format!("{desc}: {e}"))),
        Err(e) => Err(StepError::Guest { step: desc.into(), reason: e.to_string() }),
    }
}

/// Runs one in-guest loop until its stop file appears (or the guest reboots) and judges its
/// report: a loop that could not run, ran no round, or had a command, a load or an unload fail
/// (a busy one only under `unload_busy: fail`) fails the block with the guest's words.
async fn in_guest_loop(c: &Ctx, id: u64, script: &str) -> Result<(), StepError> {
    const STEP: &str = "background loop";
    let failed = |reason: String| StepError::Failed { step: STEP.into(), reason };
    let epoch = c.epoch();
    let session = c.link.ssh().map_err(|e| StepError::Guest { step: "background".into(), reason: e.to_string() })?;
    // Its report, read every few seconds meanwhile, is what remains of it if the guest panics.
    let poll = async {
        loop {
            tokio::time::sleep(LOOP_POLL).await;
            if let Ok(out) = session.exec(&shell::report_command(id), Duration::from_secs(10)).await
                && let Some(r) = LoopReport::parse(&out.stdout_str())
            {
                c.loop_report(id, r, false);
            }
        }
    };
    let ran = tokio::select! {
        r = session.exec(script, Duration::from_secs(24 * 3600)) => r,
        never = poll => never,
    };
    match ran {
        Ok(out) => {
            let Some(r) = LoopReport::parse(&out.stdout_str()) else {
                let status = out.status.map_or("none".into(), |s| s.to_string());
                return Err(failed(format!(
                    "the loop could not run (exit {status}): {}",
                    reloads::first_line(&words(&out))
                )));
            };
            c.loop_report(id, r.clone(), true);
            let said: String = r.messages.iter().map(|(k, w)| format!("; {k}: {w}")).collect();
            c.note(STEP, format!("{} rounds; {}{said}", r.rounds, r.as_loop().summary()));
            r.failure(c.unload_busy).map_or(Ok(()), |why| Err(failed(why)))
        }
        Err(_) if c.epoch() != epoch => {
            let last = c.loops.lock().unwrap().get(&id).filter(|s| s.finished).and_then(|s| s.report.clone());
            match last {
                // Cut short by the case's reboot: what it did until then still counts.
                Some(r) => {
                    c.note(STEP, format!("ended by reboot after {} rounds; {}", r.rounds, r.as_loop().summary()));
                    match r.failure(c.unload_busy) {
                        Some(why) if r.rounds > 0 => Err(failed(why)),
                        _ => Err(StepError::Interrupted),
                    }
                }
                None => {
                    c.note(STEP, "ended by reboot before its report could be read");
                    Err(StepError::Interrupted)
                }
            }
        }
        Err(e) => Err(StepError::Guest { step: STEP.into(), reason: e.to_string() }),
    }
}

/// Repeats a background block on the host (its steps need the host: QMP, reboots, console
/// waits) until the enclosing block ends. Its rounds count in the iteration's loop counts and
/// its end is noted with them; a failed step ends it and fails the block with that step's words.
async fn host_loop(c: &Ctx, steps: &[Step], stop: &AtomicBool) -> Result<(), StepError> {
    let mut rounds = 0;
    let result = loop {
        if let Err(e) = run_block(c, steps).await {
            break Err(e);
        }
        rounds += 1;
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
    };
    {
        let mut counts = c.reloads.lock().unwrap();
        counts.loop_rounds += rounds;
        counts.loops += 1;
    }
    let how = match &result {
        Ok(()) => String::new(),
        Err(StepError::Interrupted) => "ended by reboot after ".into(),
        Err(_) => "stopped by its failed round after ".into(),
    };
    c.note("background loop on the host", format!("{how}{rounds} rounds"));
    result
}

/// How long a stopped background step may take to end (a loop on the host also gets its round's time).
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A running background step.
struct Bg {
    task: JoinHandle<Result<(), StepError>>,
    stop: Arc<AtomicBool>,
    loop_id: Option<u64>,
    /// Whether it repeats on the host: its current round (perhaps a reboot) ends before it stops.
    host_loop: bool,
}

impl Bg {
    fn start(ctx: &Ctx, b: &Background) -> Bg {
        let stop = Arc::new(AtomicBool::new(false));
        let (c, steps, repeat, flag) = (ctx.clone(), b.steps.clone(), b.repeat, stop.clone());
        let script = repeat
            .then(|| {
                let id = LOOP_IDS.fetch_add(1, Ordering::Relaxed);
                shell::loop_script(&steps, ctx.link.profile(), ctx.cpu.vendor, id, ctx.seed()).map(|s| (id, s))
            })
            .flatten();
        let loop_id = script.as_ref().map(|(id, _)| *id);
        if let Some(id) = loop_id {
            ctx.loops.lock().unwrap().insert(id, Default::default());
        }
        let task = tokio::spawn(async move {
            match script {
                Some((id, script)) => in_guest_loop(&c, id, &script).await,
                None if repeat => host_loop(&c, &steps, &flag).await,
                None => run_block(&c, &steps).await,
            }
        });
        Bg { task, stop, loop_id, host_loop: repeat && loop_id.is_none() }
    }

    async fn stop(self, ctx: &Ctx) -> Result<(), StepError> {
        self.stop.store(true, Ordering::SeqCst);
        if let (Some(id), Ok(session)) = (self.loop_id, ctx.link.ssh()) {
            let _ = session.exec(&format!("touch {}", shell::stop_file(id)), Duration::from_secs(10)).await;
        }
        let mut task = self.task;
        let grace = if self.host_loop { STOP_GRACE + ctx.boot_timeout + SSH_TIMEOUT } else { STOP_GRACE };
        match tokio::time::timeout(grace, &mut task).await {
            Ok(r) => r.unwrap_or_else(|e| Err(StepError::Infra(format!("background step panicked: {e}")))),
            Err(_) => {
                task.abort();
                let reason = format!("did not stop within {} s", grace.as_secs());
                Err(StepError::Guest { step: "background".into(), reason })
            }
        }
    }
}
