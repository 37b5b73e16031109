//! The workers of one case × CPU × image: each owns a guest (booted when needed, replaced
//! after a panic, a hang or a failure, so the next iteration starts from a fresh boot) and
//! takes iterations off a shared queue. `--jobs N` runs N of them at once, within the memory
//! budget.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::plan::{Plan, Progress};
use super::shared::{RunSoFar, Shared};
use super::skip::skip_reason;
use super::iteration::{self, IterationSpec};
use crate::results::outcome::{Outcome, judge};
use super::steps::{StepError, run_block};
use super::watch::Watcher;
use crate::case::{Case, LoadedCase};
use crate::guest::Guest;
use crate::host::memory;
use crate::machine::CpuModel;
use crate::target::{PanicWatch, Target};
use crate::results::IterationResult;

/// The VM state snapshot-restore iterations start from.
const SNAPSHOT_TAG: &str = "rig-base";

/// A booted guest with its watcher.
struct Session {
    guest: Guest,
    watcher: Watcher,
    /// The target's guest-side panic handling on this boot (evidence after a panic).
    panic_watch: Box<dyn PanicWatch>,
    /// Iterations restore the saved state first.
    snapshot: bool,
    /// The guest is still in the saved state (nothing ran since the snapshot or the restore).
    pristine: std::cell::Cell<bool>,
}

/// Runs the assigned iterations of one case × CPU × image on up to `plan.jobs` guests at once.
pub async fn run_case(
    plan: &Plan,
    lc: &LoadedCase,
    cpu: &'static CpuModel,
    indices: &[u32],
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
    let jobs = if image.parallel_ok() { plan.jobs.max(1).min(fit as usize).min(indices.len()) } else { 1 };
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
        queue: Mutex::new(indices.iter().copied().collect()),
        stop: AtomicBool::new(false),
        total: indices.len() as u32,
        jobs,
        gate,
    };
    futures::future::join_all((1..=jobs).map(|k| w.worker(k))).await;
    shared.finish_run(idx, |run| {
        let wanted = plan.until_panic.as_ref()?;
        let seen: Vec<String> = run.tally.titles.iter().map(|(t, _)| t.clone()).collect();
        let n = run.iterations.len() as u32;
        Some(format!(
            "--until-panic: no panic matching {} in {n} iterations (its rate is below {:.1}% at 95%){}",
            wanted.as_deref().map(|t| format!("'{t}'")).unwrap_or_else(|| "the hunted signature".into()),
            crate::stats::zero_hit_upper(n) * 100.0,
            if seen.is_empty() { String::new() } else { format!(" (seen: {})", seen.join("; ")) }
        ))
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
    queue: Mutex<VecDeque<u32>>,
    stop: AtomicBool,
    total: u32,
    /// Guests working on it at once (one for an image that cannot run in parallel).
    jobs: usize,
    /// The gate of the sequential comparison it is part of, and its slot there.
    gate: Option<(&'a super::gate::Gate, usize)>,
}

impl Work<'_, '_> {
    /// The progress line's facts for this case × CPU so far.
    fn progress(&self, so_far: RunSoFar, stage: Option<String>) -> Progress {
        Progress {
            case: self.c.name.clone(),
            cpu: self.cpu.name.into(),
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
                None => match self.queue.lock().unwrap().pop_front() {
                    Some(i) => (i, None),
                    None => break,
                },
            };
            if Instant::now() >= self.run_deadline {
                self.stop.store(true, Ordering::SeqCst);
                let why = format!("{} on {}: the run deadline ({} s) passed", c.name, cpu.name, c.deadlines.run_secs);
                if let Some((g, slot)) = self.gate {
                    g.finish(slot, &format!("the run deadline ({} s) passed", c.deadlines.run_secs));
                }
                self.shared.stop_early(why);
                break;
            }
            let seed =
                self.plan.seed ^ (u64::from(i) << 32) ^ fxhash(&c.name) ^ fxhash(cpu.name) ^ fxhash(&c.guest.image);
            let deadline = || (Instant::now() + Duration::from_secs(c.deadlines.iteration_secs)).min(self.run_deadline);
            let (outcome, secs, steps, evidence, reloads) = match &session {
                Some(s) => ran(self, s, boot_timeout, deadline(), seed, i).await,
                None => {
                    boots += 1;
                    let name = if self.jobs > 1 { format!("guest-{k}-boot-{boots}") } else { format!("boot-{boots}") };
                    let gdir = self.dir.join(name);
                    match boot(self.plan, self.image, c, cpu, &gdir, boot_timeout, &|stage| self.stage(stage)).await {
                        Ok(s) => {
                            let r = ran(self, &s, boot_timeout, deadline(), seed, i).await;
                            session = Some(s);
                            r
                        }
                        Err(o) => (o, 0.0, Vec::new(), gdir.display().to_string(), Default::default()),
                    }
                }
            };
            let mut outcome = outcome;
            let fresh_boot_next = !matches!(outcome, Outcome::Completed);
            if let (Outcome::Panic { triage, .. }, Some(s)) = (&mut outcome, &session) {
                let dir = s.guest.dir().join(format!("iteration-{i}"));
                let text = self.image.after_panic(&s.guest.link(), &dir, boot_timeout).await;
                let watched = s.panic_watch.evidence();
                for text in [watched, text].into_iter().flatten() {
                    triage.push_str("\n\n");
                    triage.push_str(&text);
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(dir.join("triage.txt"), &*triage);
                }
            }
            let verdict = judge(&c.expect, &outcome);
            let hit = self.plan.until_panic.as_ref().map(|wanted| match wanted {
                Some(title) => matches!(&outcome, Outcome::Panic { title: t, .. } if t == title),
                None => crate::results::compare::matches(c.hunts.as_ref(), &outcome),
            });
            let judged = crate::results::compare::judged_hit(c.hunts.as_ref(), &outcome);
            let it = IterationResult { index: i, outcome, verdict, secs, seed, evidence, steps, reloads };
            let stop = (hit == Some(true)).then(|| format!("--until-panic: first matching panic at iteration {i}"));
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
            symbols: w.image.symbols(),
        },
        unload_busy: c.unload_busy,
    };
    let r = iteration::run(&s.guest.link(), &s.watcher, &spec).await;
    let outcome = lost_evidence(&s.guest, qemu_death(&s.guest, r.outcome));
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

/// A hang in which QEMU itself died (killed, crashed, out of memory) says nothing about the
/// guest's kernel: it is infrastructure, with QEMU's exit status and stderr. A QEMU that
/// exited cleanly (the guest powered itself off) stays a hang of the case.
fn qemu_death(guest: &Guest, outcome: Outcome) -> Outcome {
    let Outcome::Hang { awaited, .. } = &outcome else { return outcome };
    match guest.qemu_exit() {
        Some((status, stderr)) if status != "exit status 0" => Outcome::Infra {
            reason: format!(
                "QEMU exited during the iteration ({status}) while awaiting {awaited}; its stderr: {}",
                if stderr.trim().is_empty() { "(empty)" } else { stderr.trim() }
            ),
        },
        _ => outcome,
    }
}

/// Boots a fresh guest for the case, waits until it is ready and runs the case's setup steps.
async fn boot(
    plan: &Plan,
    image: &dyn Target,
    c: &Case,
    cpu: &'static CpuModel,
    dir: &std::path::Path,
    boot_timeout: Duration,
    stage: &(dyn Fn(String) + Sync),
) -> Result<Session, Outcome> {
    let shape = c.guest.shape();
    let mut spec = image.machine(&shape, cpu, plan.accel).map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?;
    let profile = image.profile().clone();
    let keys = image.keys();
    let snapshot = c.snapshot && plan.snapshots;
    if snapshot {
        spec.state_disk = Some(state_disk(dir).map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?);
    }
    let guest =
        Guest::launch(spec, profile, keys, dir).await.map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?;
    let watcher = Watcher::start(&guest.link(), image.os());
    let mut panic_watch = image.panic_watch(&guest);
    let setup = image.setup_snapshot(&shape, cpu, plan.accel);
    let deadline = Instant::now() + boot_timeout;
    let ready = image.wait_ready(&guest, setup.as_ref(), deadline, stage).await;
    if let Err(why) = ready {
        let tail = guest.console().tail(30).join("\n");
        guest.kill().await;
        return Err(Outcome::Infra {
            reason: format!("{why}\nlast console lines:\n{tail}\nevidence: {}", dir.display()),
        });
    }
    // Before the setup snapshot is saved, so a headnode resumed from it has it set too.
    panic_watch.ready(&guest.link()).await;
    if let Some(s) = setup.filter(|s| !s.saved) {
        // Saved before the case's own setup: later runs of any case on this machine shape
        // start from here.
        match guest.save_snapshot(&s.tag).await.and_then(|()| image.record_setup_snapshot(&s.tag)) {
            Ok(()) => {
                tracing::info!(tag = s.tag, "saved the set-up headnode; later runs start from it");
                stage(format!("saved the set-up headnode as {}", s.tag));
            }
            Err(e) => tracing::warn!("could not save the set-up headnode: {e:#}"),
        }
    }
    if let Err(reason) = super::preflight::run(&guest.link(), c, cpu, &guest.console().lines_since(0), dir).await {
        guest.kill().await;
        return Err(Outcome::Infra { reason });
    }
    if !c.setup.is_empty() {
        let ctx = super::ctx::Ctx::new(guest.link(), cpu, c.guest.nested, boot_timeout, plan.seed, c.unload_busy);
        if let Err(e) = run_block(&ctx, &c.setup).await {
            guest.kill().await;
            return Err(match e {
                StepError::Failed { step, reason } | StepError::Guest { step, reason } => {
                    Outcome::StepFailed { step: format!("setup: {step}"), reason }
                }
                StepError::Infra(reason) => Outcome::Infra { reason },
                StepError::Interrupted => Outcome::Infra { reason: "setup interrupted by a reboot".into() },
            });
        }
    }
    if snapshot && let Err(e) = guest.save_snapshot(SNAPSHOT_TAG).await {
        guest.kill().await;
        return Err(Outcome::Infra { reason: format!("saving the snapshot: {e:#}") });
    }
    Ok(Session { guest, watcher, panic_watch, snapshot, pristine: std::cell::Cell::new(true) })
}

/// Creates the qcow2 file that holds saved VM states.
fn state_disk(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    crate::qemu::img::create(dir, "state.qcow2", "4G")?;
    Ok(dir.join("state.qcow2"))
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
