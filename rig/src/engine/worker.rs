//! The workers of one case × CPU × image: each owns a guest (booted when needed, replaced
//! after a panic, a hang or a failure, so the next iteration starts from a fresh boot) and
//! takes iterations off a shared queue. `--jobs N` runs N of them at once, within the memory
//! budget.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::iteration::{self, IterationSpec};
use super::plan::{Plan, Progress};
use super::qemu_exit;
use super::session::{BootFailure, SNAPSHOT_TAG, Session, boot};
use super::shared::{RunSoFar, Shared};
use super::skip::skip_reason;
use crate::case::{Case, LoadedCase};
use crate::guest::Guest;
use crate::guest_os::Target;
use crate::host::memory;
use crate::machine::CpuModel;
use crate::results::outcome::{Outcome, judge};
use crate::results::shard::Assigned;
use crate::results::{IterationResult, StopReason};

/// Runs the assigned iterations of one case × CPU × image on up to `plan.jobs` guests at once.
pub async fn run_case(
    plan: &Plan,
    lc: &LoadedCase,
    cpu: &'static CpuModel,
    indices: Assigned,
    idx: usize,
    shared: &Shared<'_>,
    gate: Option<(&super::gate::Gate, usize)>,
) {
    let c = &lc.case;
    let not_run = |o: Outcome| shared.not_run(idx, o);
    if indices.is_empty() {
        return;
    }
    if let Some(reason) = skip_reason(c.guest.vendor, c.guest.nested, cpu, plan.accel) {
        return not_run(Outcome::Skipped { reason });
    }
    if plan.accel == crate::machine::Accel::Kvm
        && c.guest.nested
        && let Err(reason) = crate::host::nested::check(Path::new("/sys"), cpu.vendor)
    {
        return not_run(Outcome::Infra { reason });
    }
    let budget = plan.memory_budget_mib.or_else(|| memory::available_mib().map(|m| m * 4 / 5)).unwrap_or(u64::MAX);
    let fit = memory::guests_that_fit(budget, c.guest.memory_mib);
    if fit == 0 {
        return not_run(Outcome::Infra {
            reason: format!(
                "memory budget {budget} MiB: no guest fits (each needs {} MiB of guest memory plus {} MiB for QEMU)",
                c.guest.memory_mib,
                memory::QEMU_OVERHEAD_MIB
            ),
        });
    }
    let image = match shared.target(&plan.build_dir, &c.guest.image).await {
        Ok(i) => i,
        Err(e) => return not_run(Outcome::Infra { reason: format!("{e:#}") }),
    };
    let dir = match crate::rundir::fresh_subdir(&plan.run_dir, &format!("{}/{}/{}", c.name, cpu.name, c.guest.image)) {
        Ok(d) => d,
        Err(e) => return not_run(Outcome::Infra { reason: format!("evidence directory: {e:#}") }),
    };
    // In a sequential comparison every build may have `--jobs` guests, while the gate lets
    // `--jobs` iterations run at a time across the builds: a build that is behind (the one that
    // panics, and boots again after each panic) catches up on all of them.
    let jobs = if image.parallel_ok() { plan.jobs.max(1).min(fit as usize).min(indices.len() as usize) } else { 1 };
    let w = Work {
        plan,
        c,
        cpu,
        image: &*image,
        dir: &dir,
        idx,
        shared,
        began: Instant::now(),
        run_deadline: Instant::now() + Duration::from_secs(c.deadlines.run_secs),
        indices,
        taken: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        total: indices.len(),
        jobs,
        gate,
        quiet_boot: Mutex::new(None),
    };
    futures::future::join_all((1..=jobs).map(|k| w.worker(k))).await;
    shared.finish_run(idx, |run| {
        let wanted = plan.until_panic.clone()?;
        let seen: Vec<String> = run.tally.titles.iter().map(|(t, _)| t.clone()).collect();
        Some(StopReason::NoMatch { wanted, iterations: run.iterations.len() as u32, seen })
    });
}

/// One case × CPU × image being worked on by several workers.
struct Work<'a, 's> {
    plan: &'a Plan,
    c: &'a Case,
    cpu: &'static CpuModel,
    image: &'a dyn Target,
    dir: &'a Path,
    idx: usize,
    shared: &'a Shared<'s>,
    began: Instant,
    run_deadline: Instant,
    /// Its iterations, taken in order by the workers (`taken` so far).
    indices: Assigned,
    taken: AtomicU64,
    stop: AtomicBool,
    total: u32,
    /// Guests working on it at once (one for an image that cannot run in parallel).
    jobs: usize,
    /// The gate of the sequential comparison it is part of, and its slot there.
    gate: Option<(&'a super::gate::Gate, usize)>,
    /// The quickest boot to the ready marker seen on this image and machine shape, seconds.
    quiet_boot: Mutex<Option<f64>>,
}

/// How long a boot's consoles may stay silent before it is given up: this many times the
/// quickest boot seen on the image and shape ...
const SILENT_BOOTS: f64 = 10.0;
/// ... but never less than this ...
const SILENCE_FLOOR: Duration = Duration::from_secs(20);
/// ... and this before any boot of it was seen.
const SILENCE_UNMEASURED: Duration = Duration::from_secs(60);

/// The step record of an iteration whose first boot went silent and whose second did not.
fn retried(first: String) -> crate::results::step::StepRecord {
    crate::results::step::StepRecord {
        t: 0.0,
        step: "boot".into(),
        result: format!("the first boot went silent ({first}); booted once more on a fresh QEMU"),
        boot: None,
        detail: None,
    }
}

impl Work<'_, '_> {
    /// How long the consoles may stay silent while a guest boots (the boot deadline at most).
    fn silence(&self, boot_timeout: Duration) -> Duration {
        if let Some(limit) = self.plan.inject.boot_silence {
            return limit;
        }
        let quiet = *self.quiet_boot.lock().unwrap();
        quiet
            .map_or(SILENCE_UNMEASURED, |q| Duration::from_secs_f64(q * SILENT_BOOTS).max(SILENCE_FLOOR))
            .min(boot_timeout)
    }

    /// Keeps the boot time of a session that became ready.
    fn measured(&self, s: &Session) {
        if let Some(b) = s.guest.link().boot() {
            let mut q = self.quiet_boot.lock().unwrap();
            *q = Some(q.map_or(b.ready_secs, |q| q.min(b.ready_secs)));
        }
    }

    /// The next iteration no worker has taken yet.
    fn next_index(&self) -> Option<u32> {
        let k = self.taken.fetch_add(1, Ordering::SeqCst);
        u32::try_from(k).ok().and_then(|k| self.indices.get(k))
    }

    /// The progress line's facts for this case × CPU so far.
    fn progress(&self, so_far: RunSoFar, stage: Option<String>) -> Progress {
        Progress {
            case: self.c.name.clone(),
            cpu: self.cpu.name.into(),
            image: self.c.guest.image.clone(),
            done: so_far.done,
            of: self.total,
            panics: so_far.panics,
            elapsed: self.began.elapsed().as_secs_f64(),
            last: so_far.last,
            stage,
        }
    }

    /// Shows what a booting guest is doing on the progress line.
    fn stage(&self, stage: String) {
        self.shared.show(&self.progress(self.shared.so_far(self.idx), Some(stage)));
    }

    /// Worker `k`: takes iterations off the queue on its own guest, booting a fresh one after a
    /// panic, a hang or a failure.
    async fn worker(&self, k: usize) {
        let (c, cpu) = (self.c, self.cpu);
        let boot_timeout = Duration::from_secs(c.deadlines.boot_secs);
        let mut session: Option<Session> = None;
        let mut boots = 0u32;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let (i, _permit) = match self.gate {
                Some((g, slot)) => {
                    // A heavy guest (one at a time) is not kept idle while the other builds run:
                    // it boots again (from its setup snapshot, on coal) for its next turn.
                    if !self.image.parallel_ok()
                        && g.shared(slot)
                        && let Some(s) = session.take()
                    {
                        s.guest.shutdown().await;
                    }
                    match g.next(slot).await {
                        Some((i, permit)) => (i, Some(permit)),
                        None => break,
                    }
                }
                None => match self.next_index() {
                    Some(i) => (i, None),
                    None => break,
                },
            };
            if Instant::now() >= self.run_deadline {
                self.stop.store(true, Ordering::SeqCst);
                let deadline = StopReason::RunDeadline { secs: c.deadlines.run_secs };
                if let Some((g, slot)) = self.gate {
                    g.finish(slot, deadline.clone());
                }
                self.shared.stop_early(StopReason::On {
                    case: c.name.clone(),
                    cpu: cpu.name.into(),
                    why: Box::new(deadline),
                });
                break;
            }
            let seed =
                self.plan.seed ^ (u64::from(i) << 32) ^ fxhash(&c.name) ^ fxhash(cpu.name) ^ fxhash(&c.guest.image);
            let deadline = || (Instant::now() + Duration::from_secs(c.deadlines.iteration_secs)).min(self.run_deadline);
            let (outcome, secs, steps, evidence, reloads) = match &session {
                Some(s) => ran(self, s, boot_timeout, deadline(), seed, i, None).await,
                None => {
                    let mut silent_boot: Option<String> = None;
                    loop {
                        boots += 1;
                        let name =
                            if self.jobs > 1 { format!("guest-{k}-boot-{boots}") } else { format!("boot-{boots}") };
                        let gdir = self.dir.join(&name);
                        let silence = self.silence(boot_timeout);
                        let stop_it = boots <= self.plan.inject.silent_boots;
                        let stage = |stage| self.stage(stage);
                        match boot(self.plan, self.image, c, cpu, &gdir, boot_timeout, silence, stop_it, &stage).await {
                            Ok(s) => {
                                self.measured(&s);
                                let mut r = ran(self, &s, boot_timeout, deadline(), seed, i, None).await;
                                session = Some(s);
                                if let Some(first) = silent_boot {
                                    r.2.insert(0, retried(first));
                                }
                                break r;
                            }
                            Err(BootFailure::Panicked(s, sighting)) => {
                                let r = ran(self, &s, boot_timeout, deadline(), seed, i, Some(sighting)).await;
                                session = Some(*s);
                                break r;
                            }
                            Err(BootFailure::Silent(_)) if silent_boot.is_none() => {
                                // Under TCG a boot goes silent now and then: one more try on a
                                // fresh QEMU, and the iteration is kept if it boots.
                                tracing::warn!(boot = %gdir.display(), "the boot went silent: booting once more");
                                self.stage(format!("{name} went silent: booting once more"));
                                silent_boot = Some(gdir.display().to_string());
                            }
                            Err(BootFailure::Silent(o) | BootFailure::Failed(o)) => {
                                break (o, 0.0, Vec::new(), gdir.display().to_string(), Default::default());
                            }
                        }
                    }
                }
            };
            let fresh_boot_next = !matches!(outcome, Outcome::Completed);
            let verdict = judge(&c.expect, &outcome);
            let hit = self.plan.until_panic.as_ref().map(|wanted| match wanted {
                Some(title) => matches!(&outcome, Outcome::Panic { title: t, .. } if t == title),
                None => crate::results::compare::matches(c.hunts.as_ref(), &outcome),
            });
            let it = IterationResult { index: i, outcome, verdict, secs, seed, evidence, steps, reloads };
            let stop = (hit == Some(true)).then_some(StopReason::FirstMatch { iteration: i });
            let judged = crate::results::compare::judged(c.hunts.as_ref(), &it);
            let (so_far, stopped) = self.shared.record(self.idx, it, stop);
            if stopped {
                self.stop.store(true, Ordering::SeqCst);
            }
            if let Some((g, slot)) = self.gate {
                g.record(slot, i, judged);
            }
            self.shared.show(&self.progress(so_far, None));
            self.shared.write(self.plan);
            if fresh_boot_next && let Some(s) = session.take() {
                s.guest.kill().await;
            }
        }
        if let Some(s) = session.take() {
            s.guest.shutdown().await;
        }
    }
}

/// Runs iteration `index` of `w`'s case on session `s`.
async fn ran(
    w: &Work<'_, '_>,
    s: &Session,
    boot_timeout: Duration,
    deadline: Instant,
    seed: u64,
    index: u32,
    boot_panic: Option<super::watch::Sighting>,
) -> (Outcome, f64, Vec<crate::results::step::StepRecord>, String, crate::results::reloads::ReloadCounts) {
    let (c, cpu) = (w.c, w.cpu);
    let evidence = s.guest.dir().display().to_string();
    let mut restore = None;
    if s.snapshot && !s.pristine.get() {
        match s.guest.restore_snapshot(SNAPSHOT_TAG, Instant::now() + boot_timeout).await {
            Ok(secs) => restore = Some(secs),
            Err(e) => {
                return (
                    Outcome::Infra { reason: format!("restoring the snapshot: {e:#}") },
                    0.0,
                    Vec::new(),
                    evidence,
                    Default::default(),
                );
            }
        }
        // The restored guest would replay the same random numbers: give it fresh entropy.
        let _ = s.guest.run(&format!("echo {seed:x}{index} > /dev/urandom"), Duration::from_secs(10)).await;
    }
    s.pristine.set(false);
    let dir = s.guest.dir().join(format!("iteration-{index}"));
    let tool = w.image.dump_tool();
    let spec = IterationSpec {
        steps: &c.steps,
        cpu,
        nested: c.guest.nested,
        boot_timeout,
        deadline,
        seed,
        dir: &dir,
        dumps: crate::dump::DumpScope {
            opts: &w.plan.dumps,
            ledger: &w.shared.dump_ledger,
            build: &c.guest.image,
            tool: tool.as_deref(),
        },
        unload_busy: c.unload_busy,
        image: w.image,
        panic_watch: s.panic_watch.as_ref(),
    };
    let r = match boot_panic {
        None => iteration::run(&s.guest.link(), &s.watcher, &spec).await,
        Some(sighting) => iteration::panicked_while_booting(&s.guest.link(), &s.watcher, &spec, sighting).await,
    };
    let last_step = r.steps.last().map(|s| s.step.clone());
    let outcome =
        qemu_exit::still_there(&s.guest, qemu_exit::qemu_death(&s.guest, r.outcome), last_step.as_deref()).await;
    let outcome = lost_evidence(&s.guest, outcome);
    let mut steps = r.steps;
    let mut secs = r.secs;
    if let Some(t) = restore {
        secs += t;
        steps.insert(
            0,
            crate::results::step::StepRecord {
                t: 0.0,
                step: "restore snapshot".into(),
                result: format!("restored {SNAPSHOT_TAG} in {t:.2}s"),
                boot: None,
                detail: Some(crate::results::step::StepDetail::Restored { tag: SNAPSHOT_TAG.into(), secs: t }),
            },
        );
    }
    (outcome, secs, steps, evidence, r.reloads)
}

/// An iteration whose console log could not be written (a full disk) lost its evidence:
/// infrastructure, whatever the guest did, with the write error.
fn lost_evidence(guest: &Guest, outcome: Outcome) -> Outcome {
    match guest.consoles().iter().find_map(|c| c.log_error()) {
        Some(e) if !matches!(outcome, Outcome::Infra { .. }) => {
            Outcome::Infra { reason: format!("evidence lost: {e} (the iteration ended {})", outcome.word()) }
        }
        _ => outcome,
    }
}

/// A small stable hash for seeding (FNV-1a).
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable() {
        assert_eq!(fxhash("a"), 0xaf63dc4c8601ec8c);
    }
}
