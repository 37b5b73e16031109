//! The gate of a sequential comparison: the builds of one case × CPU run iteration for
//! iteration (the reference and each undecided candidate take turns, `--jobs` iterations at a
//! time across them), and every result is weighed as it comes in, so a build stops as soon as
//! its verdict is decided ([`crate::stats::sequential`]), at its iteration budget, or at the
//! wall-clock budget.
//!
//! The rules decide on judged iterations in index order (an `infra` or skipped iteration
//! neither counts nor blocks once it has ended), so an iteration still running holds the
//! decision back: a slow one (a boot that goes silent, a panic being dumped) must not let the
//! others run on past it. No build starts an iteration more than `jobs` past the first one
//! still unfinished in any running build (the frontier): once the slow one ends, the decision
//! it held back is taken with at most `jobs` iterations in flight.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::results::StopReason;
use crate::results::judged::{Judged, hits, not_exercised};
use crate::stats::sequential::{self, Decision, Design};

/// How long a sequential comparison may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Iterations per build at most (None: the case's own `iterations`).
    pub iterations: Option<u32>,
    /// Wall-clock seconds for the whole comparison at most (None: the case's run deadline).
    pub secs: Option<u64>,
}

/// The default budget: a case's `iterations` per build, its run deadline.
pub const DEFAULT_BUDGET: Budget = Budget { iterations: None, secs: None };

impl Budget {
    /// The iterations per build for a case whose own count is `case_iterations`.
    pub fn iterations_for(&self, case_iterations: u32) -> u32 {
        self.iterations.unwrap_or(case_iterations).max(1)
    }
}

/// One build's place in the comparison (slot 0 is the reference).
#[derive(Debug, Default)]
struct Build {
    /// Iterations handed out.
    started: u32,
    /// Finished iterations by index: Some when judged, None for infra or skipped.
    results: BTreeMap<u32, Option<Judged>>,
    /// Why the build stopped, once it has.
    done: Option<StopReason>,
}

impl Build {
    /// How many iterations from the first have finished (judged or not), without a gap.
    fn finished(&self) -> u32 {
        (1..).zip(self.results.keys()).take_while(|(expect, i)| *expect == **i).count() as u32
    }

    /// The judged results in index order, up to the first iteration still running.
    fn judged(&self) -> Vec<Judged> {
        let mut out = Vec::new();
        for (expect, (&i, &r)) in (1..).zip(&self.results) {
            if i != expect {
                break;
            }
            out.extend(r);
        }
        out
    }
}

/// Shared by the workers of every build in one comparison.
pub struct Gate {
    design: Design,
    /// Iterations per build at most.
    iterations: u32,
    /// Wall-clock seconds at most.
    secs: Option<u64>,
    deadline: Option<Instant>,
    builds: Mutex<Vec<Build>>,
    changed: Notify,
    permits: std::sync::Arc<Semaphore>,
    /// Iterations in flight across the builds at most (the permits).
    jobs: u32,
}

impl Gate {
    /// A gate for `builds` builds (the reference first) running `jobs` iterations at a time,
    /// each at most `iterations`, all of them within `secs`.
    pub fn new(builds: usize, jobs: usize, design: Design, iterations: u32, secs: Option<u64>) -> Gate {
        Gate {
            design,
            iterations,
            secs,
            deadline: secs.map(|s| Instant::now() + std::time::Duration::from_secs(s)),
            builds: Mutex::new((0..builds).map(|_| Build::default()).collect()),
            changed: Notify::new(),
            permits: std::sync::Arc::new(Semaphore::new(jobs.max(1))),
            jobs: jobs.max(1) as u32,
        }
    }

    /// Counts `hits` (Some when judged, in order) as build `slot`'s first iterations, already
    /// run: its next iteration is the one after them.
    pub fn bank(&self, slot: usize, hits: &[Option<Judged>]) {
        let mut builds = self.builds.lock().unwrap();
        for (i, &h) in (1..).zip(hits) {
            builds[slot].results.insert(i, h);
        }
        builds[slot].started = hits.len() as u32;
    }

    /// The next iteration index for build `slot` with a permit to run it, once it is this
    /// build's turn (no other running build has started fewer); None when the build is done.
    pub async fn next(&self, slot: usize) -> Option<(u32, OwnedSemaphorePermit)> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let permit = tokio::select! {
                p = std::sync::Arc::clone(&self.permits).acquire_owned() => p.ok()?,
                () = &mut changed => continue,
            };
            {
                let mut builds = self.builds.lock().unwrap();
                if builds[slot].done.is_none() && self.deadline.is_some_and(|d| Instant::now() >= d) {
                    let why = StopReason::TimeBudget { secs: self.secs.unwrap_or(0) };
                    builds.iter_mut().filter(|b| b.done.is_none()).for_each(|b| b.done = Some(why.clone()));
                    self.changed.notify_waiters();
                }
                if builds[slot].done.is_some() {
                    return None;
                }
                if builds[slot].started >= self.iterations {
                    builds[slot].done = Some(StopReason::Budget { iterations: self.iterations });
                    settle(&mut builds);
                    self.changed.notify_waiters();
                    return None;
                }
                let mine = builds[slot].started;
                let others = builds.iter().enumerate().filter(|(k, b)| *k != slot && b.done.is_none());
                let frontier = builds.iter().filter(|b| b.done.is_none()).map(Build::finished).min().unwrap_or(0);
                if others.map(|(_, b)| b.started).min().is_none_or(|m| mine <= m) && mine < frontier + self.jobs {
                    builds[slot].started += 1;
                    // A build that was ahead of this one may now take its turn.
                    self.changed.notify_waiters();
                    return Some((mine + 1, permit));
                }
            }
            drop(permit);
            changed.await;
        }
    }

    /// Whether other builds still take turns with `slot` (a heavy guest is shut down between
    /// its iterations then, so only one runs at a time).
    pub fn shared(&self, slot: usize) -> bool {
        let builds = self.builds.lock().unwrap();
        builds.iter().enumerate().any(|(k, b)| k != slot && b.done.is_none())
    }

    /// Records iteration `index` of build `slot` (Some when judged) and stops every build whose
    /// verdict it decides: a candidate on which the race cannot run first (NOT EXERCISED, by
    /// [`not_exercised`]), then by the sequential rules on hits.
    pub fn record(&self, slot: usize, index: u32, judged: Option<Judged>) {
        let mut builds = self.builds.lock().unwrap();
        builds[slot].results.insert(index, judged);
        let reference = builds[0].judged();
        for k in 1..builds.len() {
            if builds[k].done.is_some() {
                continue;
            }
            let cand = builds[k].judged();
            if let Some(n) = not_exercised(&reference, &cand) {
                builds[k].done = Some(StopReason::NotExercised { iterations: n });
                continue;
            }
            match sequential::decide(&self.design, &hits(&reference), &hits(&cand)) {
                Decision::NotFixed { at } => builds[k].done = Some(StopReason::DecidedAtHit { iteration: at }),
                Decision::Fixed { n, .. } => builds[k].done = Some(StopReason::Decided { iterations: n }),
                Decision::Undecided { .. } => {}
            }
        }
        settle(&mut builds);
        self.changed.notify_waiters();
    }

    /// Build `slot` stopped for its own reason (its run deadline, an image that could not
    /// load, an interrupted worker): the others stop waiting for it. A reference that stops so
    /// (not at its budget or once every candidate is decided) ends the comparison: without it
    /// there is nothing to compare with.
    pub fn finish(&self, slot: usize, why: StopReason) {
        let mut builds = self.builds.lock().unwrap();
        let newly = builds[slot].done.is_none();
        if newly {
            builds[slot].done = Some(why.clone());
        }
        if slot == 0 && newly {
            let why = StopReason::ReferenceStopped { why: Box::new(why) };
            builds.iter_mut().filter(|b| b.done.is_none()).for_each(|b| b.done = Some(why.clone()));
        }
        settle(&mut builds);
        self.changed.notify_waiters();
    }

    /// Why build `slot` stopped (None while it runs).
    pub fn stopped(&self, slot: usize) -> Option<StopReason> {
        self.builds.lock().unwrap()[slot].done.clone()
    }
}

/// The reference stops once every candidate has, but not behind a candidate that ran to its
/// iteration budget: a comparison undecided at its budget weighs the reference's whole budget
/// too, so the reference's last iterations must not be cut by the candidate's ending first.
fn settle(builds: &mut [Build]) {
    let (reference, candidates) = builds.split_first_mut().expect("a gate has a reference");
    let behind =
        candidates.iter().any(|b| matches!(b.done, Some(StopReason::Budget { .. })) && b.started > reference.started);
    if reference.done.is_none() && candidates.iter().all(|b| b.done.is_some()) && !behind {
        reference.done = Some(StopReason::CandidatesDone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(builds: usize, jobs: usize, iterations: u32) -> Gate {
        Gate::new(builds, jobs, sequential::DEFAULT, iterations, None)
    }

    /// A candidate that reaches its budget while the reference's last iteration has not started
    /// does not stop the reference: both builds end at the budget.
    #[tokio::test]
    async fn a_candidate_at_its_budget_first_does_not_cut_the_reference_short() {
        let g = gate(2, 2, 2);
        let (r1, p1) = g.next(0).await.unwrap();
        let (c1, q1) = g.next(1).await.unwrap();
        g.record(1, c1, Some(Judged::hit(false)));
        // The reference's first iteration is still running when the candidate's second ends.
        drop(q1);
        let (c2, q2) = g.next(1).await.unwrap();
        g.record(1, c2, Some(Judged::hit(false)));
        drop(q2);
        assert!(g.next(1).await.is_none());
        assert_eq!(g.stopped(1), Some(StopReason::Budget { iterations: 2 }));
        assert_eq!(g.stopped(0), None, "the reference was stopped behind the candidate");
        g.record(0, r1, Some(Judged::hit(false)));
        drop(p1);
        let (r2, _p2) = g.next(0).await.unwrap();
        assert_eq!(r2, 2);
        g.record(0, r2, Some(Judged::hit(false)));
        // Level with the candidate now: it stops.
        assert_eq!(g.stopped(0), Some(StopReason::CandidatesDone));
        assert!(g.next(0).await.is_none());
    }

    #[tokio::test]
    async fn builds_take_turns_and_stop_when_decided() {
        let g = gate(2, 1, 50);
        let mut order = Vec::new();
        // One iteration at a time: reference, candidate, reference, ...
        for _ in 0..4 {
            for slot in 0..2 {
                let (i, permit) = g.next(slot).await.unwrap();
                order.push((slot, i));
                g.record(slot, i, Some(Judged::hit(slot == 0)));
                drop(permit);
            }
        }
        assert_eq!(order, [(0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3), (0, 4), (1, 4)]);
        // 4/4 against 0/4: FIXED, and the reference has nothing left to compare with.
        assert_eq!(g.stopped(1), Some(StopReason::Decided { iterations: 4 }));
        assert_eq!(g.stopped(0), Some(StopReason::CandidatesDone));
        assert!(g.next(0).await.is_none() && g.next(1).await.is_none());
    }

    #[tokio::test]
    async fn a_candidate_hit_stops_it_and_the_budget_stops_the_rest() {
        let g = gate(3, 2, 3);
        for round in 1..=3 {
            for slot in 0..3 {
                if let Some((i, _p)) = g.next(slot).await {
                    assert_eq!(i, round);
                    g.record(slot, i, Some(Judged::hit(slot == 2 && round == 2)));
                }
            }
        }
        assert_eq!(g.stopped(2), Some(StopReason::DecidedAtHit { iteration: 2 }));
        assert!(g.next(1).await.is_none());
        assert_eq!(g.stopped(1), Some(StopReason::Budget { iterations: 3 }));
        assert_eq!(g.stopped(0), Some(StopReason::CandidatesDone));
    }

    #[tokio::test]
    async fn a_build_ahead_waits_for_the_others() {
        let g = std::sync::Arc::new(gate(2, 2, 10));
        let (i, p) = g.next(0).await.unwrap();
        assert_eq!(i, 1);
        let waiter = tokio::spawn({
            let g = std::sync::Arc::clone(&g);
            async move { g.next(0).await.map(|(i, _)| i) }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the reference ran ahead of the candidate");
        let (j, _q) = g.next(1).await.unwrap();
        assert_eq!(j, 1);
        // The reference's first iteration ends: its permit frees, and its second may start.
        drop(p);
        assert_eq!(waiter.await.unwrap(), Some(2));
    }

    #[tokio::test]
    async fn a_reference_that_stops_ends_the_comparison() {
        let g = gate(2, 1, 10);
        let failed = StopReason::NotRun { what: "infra".into() };
        g.finish(0, failed.clone());
        assert_eq!(g.stopped(1), Some(StopReason::ReferenceStopped { why: Box::new(failed) }));
        assert!(g.next(1).await.is_none());
        // A reference at its budget leaves the candidates their own.
        let g = gate(2, 1, 1);
        let (i, p) = g.next(0).await.unwrap();
        g.record(0, i, Some(Judged::hit(true)));
        drop(p);
        assert!(g.next(0).await.is_none());
        g.finish(0, StopReason::IterationsEnded);
        assert_eq!(g.stopped(0), Some(StopReason::Budget { iterations: 1 }));
        assert!(g.stopped(1).is_none() && g.next(1).await.is_some());
    }

    /// Drives a comparison the way the workers do: every build has `jobs` workers taking
    /// iterations from the gate; `result(slot, index)` is how long the iteration takes and what
    /// it found (None: infra). Returns how many iterations each build started.
    async fn drive(
        builds: usize,
        jobs: usize,
        budget: u32,
        result: fn(usize, u32) -> (u64, Option<bool>),
    ) -> (std::sync::Arc<Gate>, Vec<u32>) {
        let g = std::sync::Arc::new(gate(builds, jobs, budget));
        let mut workers = Vec::new();
        for slot in 0..builds {
            for _ in 0..jobs {
                let g = std::sync::Arc::clone(&g);
                workers.push(tokio::spawn(async move {
                    let mut ran = Vec::new();
                    while let Some((i, permit)) = g.next(slot).await {
                        let (secs, hit) = result(slot, i);
                        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                        g.record(slot, i, hit.map(Judged::hit));
                        drop(permit);
                        ran.push(i);
                    }
                    (slot, ran)
                }));
            }
        }
        let mut started = vec![0; builds];
        for w in workers {
            let (slot, ran) = w.await.unwrap();
            started[slot] += ran.len() as u32;
        }
        (g, started)
    }

    /// A reference that hits every time, a clean candidate, each iteration 5 s.
    fn hits_and_clean(slot: usize, _i: u32) -> (u64, Option<bool>) {
        (5, Some(slot == 0))
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_infra_iteration_in_the_reference_does_not_let_the_others_run_on() {
        // The reference's iteration 3 is a boot that went silent for 120 s (infra). Decided at
        // the early look once the reference has 4 judged (1, 2, 4, 5) and the candidate 4.
        let (g, started) =
            drive(2, 2, 10, |slot, i| if (slot, i) == (0, 3) { (120, None) } else { hits_and_clean(slot, i) }).await;
        assert_eq!(g.stopped(1), Some(StopReason::Decided { iterations: 4 }));
        assert!(started[0] <= 5 + 2 && started[1] <= 4 + 2, "ran on past the decision: {started:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_infra_iteration_in_the_candidate_does_not_let_the_others_run_on() {
        let (g, started) =
            drive(2, 2, 10, |slot, i| if (slot, i) == (1, 2) { (120, None) } else { hits_and_clean(slot, i) }).await;
        assert_eq!(g.stopped(1), Some(StopReason::Decided { iterations: 4 }));
        assert!(started[0] <= 4 + 2 && started[1] <= 5 + 2, "ran on past the decision: {started:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_infra_iteration_at_the_early_look_moves_the_look_one_further() {
        // The reference's 4th is infra: its 4 judged are 1, 2, 3, 5.
        let (g, started) =
            drive(2, 1, 10, |slot, i| if (slot, i) == (0, 4) { (60, None) } else { hits_and_clean(slot, i) }).await;
        assert_eq!(g.stopped(1), Some(StopReason::Decided { iterations: 4 }));
        assert!(started[0] <= 5 + 1 && started[1] <= 4 + 1, "ran on past the decision: {started:?}");
    }

    #[tokio::test]
    async fn banked_reference_iterations_are_not_run_again() {
        let g = gate(2, 1, 50);
        g.bank(0, &[true, false, true, true, true].map(|h| h.then_some(Judged::hit(true))));
        // The candidate runs alone until it has caught up with the banked reference.
        for i in 1..=4 {
            let (j, _p) = g.next(1).await.unwrap();
            assert_eq!(j, i);
            g.record(1, j, Some(Judged::hit(false)));
        }
        assert_eq!(g.stopped(1), Some(StopReason::Decided { iterations: 4 }));
        assert!(g.next(0).await.is_none(), "the reference ran again");
    }

    #[tokio::test]
    async fn a_candidate_whose_race_never_runs_is_stopped_as_not_exercised_at_once() {
        // Reference, fixed, pinned, one iteration at a time. The reference hits or reloads; the
        // fixed build reloads cleanly; the pinned one tries reloads and completes none.
        let g = gate(3, 1, 8);
        let ran = |hit| Judged { hit, race_ran: Some(true) };
        let refused = Judged { hit: false, race_ran: Some(false) };
        let mut started = [0; 3];
        for round in 1..=8 {
            for slot in 0..3 {
                if let Some((i, _p)) = g.next(slot).await {
                    assert_eq!(i, round);
                    started[slot] = i;
                    g.record(slot, i, Some([ran(i != 2), ran(false), refused][slot]));
                }
            }
        }
        // Decided after its 3rd, where the hit rule alone would have run it to the early look
        // (4) and called it FIXED.
        assert_eq!(g.stopped(2), Some(StopReason::NotExercised { iterations: 3 }));
        assert_eq!(started[2], 3, "ran on past the decision: {started:?}");
        // The fixed build is decided by the sequential rule (the reference's 5th hit), and the
        // reference stops with it.
        assert_eq!(g.stopped(1), Some(StopReason::Decided { iterations: 6 }));
        assert_eq!(g.stopped(0), Some(StopReason::CandidatesDone));
        assert_eq!(started, [6, 6, 3]);
    }

    #[test]
    fn judged_results_stop_at_the_first_iteration_still_running() {
        let mut b = Build::default();
        b.results.insert(1, Some(Judged::hit(true)));
        b.results.insert(2, None);
        b.results.insert(4, Some(Judged::hit(false)));
        assert_eq!(b.judged(), [Judged::hit(true)]);
        b.results.insert(3, Some(Judged::hit(false)));
        assert_eq!(b.judged().iter().map(|j| j.hit).collect::<Vec<_>>(), [true, false, false]);
    }
}
