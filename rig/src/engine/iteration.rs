//! One iteration: the case's steps against the panic watcher and the iteration deadline.
//! Whatever the guest does, this returns by the deadline with an outcome and its evidence.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::ctx::{Ctx, StepRecord};
use super::reloads::ReloadCounts;
use super::steps::{StepError, run_block};
use super::watch::{Sighting, Watcher};
use crate::case::Step;
use crate::case::model::UnloadBusy;
use crate::dump::{self, DumpScope};
use crate::guest::GuestLink;
use crate::guest_os::{PanicWatch, Target};
use crate::machine::CpuModel;
use crate::results::outcome::Outcome;

/// How long to wait, after the guest stops answering, for a panic to show itself.
const PANIC_GRACE: Duration = Duration::from_secs(4);

/// How long a panic read off the console waits for QEMU's GUEST_PANICKED (pvpanic) before the
/// guest is asked whether its kernel still runs.
const PANIC_CONFIRM: Duration = Duration::from_secs(3);

/// How long the guest gets to answer that it still runs.
const STILL_RUNNING: Duration = Duration::from_secs(5);

/// What one iteration did.
#[derive(Debug, Clone, Serialize)]
pub struct IterationRun {
    /// The outcome.
    pub outcome: Outcome,
    /// Seconds it took.
    pub secs: f64,
    /// The step transcript.
    pub steps: Vec<StepRecord>,
    /// The module reloads it ran, counted.
    pub reloads: ReloadCounts,
}

/// Everything an iteration needs to know.
pub struct IterationSpec<'a> {
    /// The steps.
    pub steps: &'a [Step],
    /// The CPU model.
    pub cpu: &'static CpuModel,
    /// Whether nesting was asked.
    pub nested: bool,
    /// Reboot-to-SSH deadline.
    pub boot_timeout: Duration,
    /// The iteration's deadline.
    pub deadline: Instant,
    /// The seed of its random choices.
    pub seed: u64,
    /// Where this iteration's dumps and hang evidence go (created when needed).
    pub dir: &'a Path,
    /// What to dump, and the run's ledger of dumps kept.
    pub dumps: DumpScope<'a>,
    /// What a busy unload means.
    pub unload_busy: UnloadBusy,
    /// The image: its own work after a panic (a dump of its own) goes into the outcome.
    pub image: &'a dyn Target,
    /// The guest-side panic watch of this boot: what it did goes into the outcome.
    pub panic_watch: &'a dyn PanicWatch,
}

/// Runs the steps on `link`, watched by `watcher`.
pub async fn run(link: &GuestLink, watcher: &Watcher, spec: &IterationSpec<'_>) -> IterationRun {
    let ctx = Ctx::new(link.clone(), spec.cpu, spec.nested, spec.boot_timeout, spec.seed, spec.unload_busy);
    let from = watcher.cursor();
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let e = Evidence { link, watcher, from, spec };
    let k = KernelPanics { ctx: &ctx, link, watcher };
    let outcome = tokio::select! {
        r = run_block(&ctx, spec.steps) => match r {
            Ok(()) | Err(StepError::Interrupted) => match k.late(from).await {
                Some(s) => e.panic(s).await,
                None => Outcome::Completed,
            },
            Err(StepError::Failed { step, reason }) => match k.late(from).await {
                Some(s) => e.panic(s).await,
                None => Outcome::StepFailed { step, reason },
            },
            Err(StepError::Guest { step, reason }) => match k.first(from, Instant::now() + PANIC_GRACE).await {
                Some(s) => e.panic(s).await,
                None => e.hang(format!("{step}: {reason}"), &step).await,
            },
            Err(StepError::Infra(reason)) => Outcome::Infra { reason },
        },
        Some(s) = k.first(from, far) => e.panic(s).await,
        _ = tokio::time::sleep_until(spec.deadline) => {
            let awaited = ctx.current.lock().unwrap().clone();
            e.hang(format!("iteration deadline passed during: {awaited}"), &awaited).await
        }
    };
    let steps = ctx.log.lock().unwrap().clone();
    IterationRun { outcome, secs: ctx.began.elapsed().as_secs_f64(), steps, reloads: ctx.reload_counts() }
}

/// The guest's kernel panicked while it booted for this iteration, before any step: the
/// panic's evidence, taken as for a panic during the steps.
pub async fn panicked_while_booting(
    link: &GuestLink,
    watcher: &Watcher,
    spec: &IterationSpec<'_>,
    s: Sighting,
) -> IterationRun {
    let began = std::time::Instant::now();
    let e = Evidence { link, watcher, from: 0, spec };
    let outcome = e.panic(s).await;
    let step = StepRecord {
        t: 0.0,
        step: "boot".into(),
        result: "the kernel panicked before the guest was ready: no step ran".into(),
        boot: None,
        detail: None,
    };
    IterationRun { outcome, secs: began.elapsed().as_secs_f64(), steps: vec![step], reloads: ReloadCounts::default() }
}

/// Kernel panics as the watcher sees them, confirmed: QEMU's GUEST_PANICKED is one; a fatal
/// report read off the console is one when GUEST_PANICKED follows within [`PANIC_CONFIRM`]
/// or the guest then no longer answers. Panic text that a program printed on the console
/// while the kernel runs on is not a panic: it is noted in the step log and passed over.
struct KernelPanics<'a> {
    ctx: &'a Ctx,
    link: &'a GuestLink,
    watcher: &'a Watcher,
}

impl KernelPanics<'_> {
    /// The first kernel panic from `from` on, by `deadline`.
    async fn first(&self, from: u64, deadline: Instant) -> Option<Sighting> {
        let mut from = from;
        loop {
            let (at, s) = self.watcher.wait_fatal_at(from, deadline).await?;
            if self.confirmed(at, &s).await {
                return Some(s);
            }
            from = at + 1;
        }
    }

    /// A panic that came as the steps ended (or one whose report is still being read).
    async fn late(&self, from: u64) -> Option<Sighting> {
        let wait = if self.watcher.crash_in_progress() { PANIC_GRACE } else { Duration::ZERO };
        self.first(from, Instant::now() + wait).await
    }

    /// Whether sighting `s` (at `at`) is the kernel's own panic.
    async fn confirmed(&self, at: u64, s: &Sighting) -> bool {
        let Sighting::Crash(r) = s else { return true };
        if !self.link.profile().pvpanic {
            self.ctx.note("console", CONSOLE_ONLY);
            return true;
        }
        if self.watcher.guest_panicked(at, Instant::now() + PANIC_CONFIRM).await {
            return true;
        }
        if self.link.run("true", STILL_RUNNING).await.is_err() {
            return true;
        }
        tracing::warn!(title = %r.title, "panic text on the console, but the kernel runs on: not a panic");
        self.ctx.note(
            "console",
            format!(
                "panic text on the console ('{}') but the kernel ran on: no GUEST_PANICKED within {} s and SSH \
                 answered; not taken for a kernel panic",
                r.title,
                PANIC_CONFIRM.as_secs()
            ),
        );
        false
    }
}

/// What the evidence says of a panic read off the console of a guest without pvpanic: nothing
/// but the console text says the kernel panicked.
const CONSOLE_ONLY: &str = "panic read off the console alone: this guest has no pvpanic device, so QEMU could not \
                            confirm that the kernel itself panicked (a program printing panic text would read the same)";

/// Collects the evidence of a panic or a hang.
struct Evidence<'a> {
    link: &'a GuestLink,
    watcher: &'a Watcher,
    from: u64,
    spec: &'a IterationSpec<'a>,
}

impl Evidence<'_> {
    /// The guest panicked (pvpanic paused it): dump first, then let the panic text finish, then
    /// name it, then let the guest do its own work after the panic. A panic read off the
    /// console is named before the dump, and not dumped when its signature has its dumps
    /// already; one QEMU reported first is named after, and its dump deleted then if so. The
    /// outcome is built here alone, and `triage.txt` written once, whole.
    async fn panic(&self, s: Sighting) -> Outcome {
        let (dir, dumps) = (self.spec.dir, &self.spec.dumps);
        let _ = std::fs::create_dir_all(dir);
        let opts = dumps.opts;
        let console_only = matches!(s, Sighting::Crash(_)) && !self.link.profile().pvpanic;
        let known = match &s {
            Sighting::Crash(r) if opts.policy.on_panic() => Some(self.cause(r.clone()).title),
            _ => None,
        };
        let skip = known.as_deref().and_then(|t| dumps.claim(t, &opts.panic_path(dir)));
        let mut dump = dump::capture_panic(self.link, dir, opts, skip).await;
        dump::flush_panic_console(self.link, self.watcher.dialect(), Duration::from_secs(3)).await;
        let report = match s {
            Sighting::Crash(r) => Some(self.cause(r)),
            Sighting::GuestPanicked => self.watcher.report(self.from, Duration::from_secs(2)).await,
        };
        let title = report
            .as_ref()
            .map(|r| r.title.clone())
            .unwrap_or_else(|| "guest panicked (GUEST_PANICKED, nothing readable on the console)".into());
        if let Some(d) = &mut dump {
            dumps.settle(d, known.as_deref(), &title);
        }
        let excerpt = report.as_ref().map(|r| r.text.clone()).unwrap_or_else(|| tail(self.link));
        let taken: Vec<_> = dump.into_iter().collect();
        let tail = self.link.console().tail(40);
        let mut triage = match dumps.tool {
            // The build's dump tool is at hand: it reads the dump (symbolized stack, log).
            Some(tool) => dump::triage_with_tool(report.as_ref(), &tail, &taken, tool).await,
            None => dump::triage_text(report.as_ref(), &tail, &taken),
        };
        // The guest's own work after the panic (its own dump), then what its panic watch did.
        let own = self.spec.image.after_panic(self.link, dir, self.spec.boot_timeout).await;
        let console_only = console_only.then(|| CONSOLE_ONLY.to_string());
        for text in [console_only, self.spec.panic_watch.evidence(), own].into_iter().flatten() {
            triage.push_str("\n\n");
            triage.push_str(&text);
        }
        let _ = std::fs::write(dir.join("triage.txt"), &triage);
        Outcome::Panic { report, title, excerpt, dumps: taken, triage }
    }

    /// The crash a fatal report stands for (a `Fatal exception` panic names the oops before it).
    fn cause(&self, fatal: crate::crash::CrashReport) -> crate::crash::CrashReport {
        self.watcher.cause(fatal, self.from)
    }

    /// The guest stopped answering during `step`: registers, console tail, a dump, then an NMI.
    /// The verdict stays `hang` even when the NMI makes the guest panic. Its dumps count under
    /// the signature `hang during <step>`.
    async fn hang(&self, awaited: String, step: &str) -> Outcome {
        let _ = std::fs::create_dir_all(self.spec.dir);
        if let Some(reason) = super::qemu_exit::frozen(self.link).await {
            return Outcome::Infra { reason: format!("{reason}, while awaiting {awaited}") };
        }
        let tail = tail(self.link);
        let opts = self.spec.dumps.opts;
        let signature = format!("hang during {step}");
        let path = opts.hang_path(self.spec.dir);
        let skip = if opts.policy.on_hang() { self.spec.dumps.claim(&signature, &path) } else { None };
        let mut ev = dump::capture_hang(self.link, self.watcher.dialect(), self.spec.dir, opts, skip).await;
        match &mut ev.dump {
            Some(d) => self.spec.dumps.settle(d, Some(&signature), &signature),
            // No dump (QEMU was gone, or the policy skips hangs): no place taken.
            None => self.spec.dumps.release(&signature, &path),
        }
        Outcome::Hang { awaited, tail, evidence: Some(Box::new(ev)) }
    }
}

fn tail(link: &GuestLink) -> String {
    link.console().tail(40).join("\n")
}
