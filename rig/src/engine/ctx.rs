//! The state steps share while an iteration runs: the guest's channels, the CPU asked for,
//! the random source, the reboot epoch and a transcript of what was done.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::reloads::{LoopReport, ReloadCounts};
use crate::case::model::UnloadBusy;
use crate::guest::GuestLink;
use crate::machine::CpuModel;

pub use crate::results::step::StepRecord;

/// Shared by every step of an iteration (cheap to clone).
#[derive(Clone)]
pub struct Ctx {
    /// The guest.
    pub link: GuestLink,
    /// The CPU model it runs.
    pub cpu: &'static CpuModel,
    /// Whether nesting was asked.
    pub nested: bool,
    /// Deadline for a reboot to reach SSH again.
    pub boot_timeout: Duration,
    /// The iteration's seeded random source (jitter and race offsets are reproducible).
    pub rng: Arc<Mutex<fastrand::Rng>>,
    /// Bumped whenever a reboot starts: an SSH step that loses its connection across a bump
    /// was interrupted by the reboot, not failed.
    pub epoch: Arc<AtomicU64>,
    /// Reboots in progress: an SSH step that finds no session meanwhile was interrupted too.
    pub rebooting: Arc<AtomicU64>,
    /// The step in progress (for hang reports).
    pub current: Arc<Mutex<String>>,
    /// What was done.
    pub log: Arc<Mutex<Vec<StepRecord>>>,
    /// When the iteration began.
    pub began: Instant,
    /// What a busy unload means (the case's `unload_busy`).
    pub unload_busy: UnloadBusy,
    /// The reloads run from the host, step by step.
    pub reloads: Arc<Mutex<ReloadCounts>>,
    /// In-guest loops by id, with the latest report read from each.
    pub loops: Arc<Mutex<BTreeMap<u64, LoopSlot>>>,
}

/// What the rig knows of one in-guest loop.
#[derive(Debug, Clone, Default)]
pub struct LoopSlot {
    /// Its latest report (None: none read yet).
    pub report: Option<LoopReport>,
    /// The report is its last: the loop stopped, or the case's own reboot was about to end it.
    /// Otherwise (a panic, a hang) it is a lower bound.
    pub finished: bool,
}

impl Ctx {
    /// A context for one iteration.
    pub fn new(
        link: GuestLink,
        cpu: &'static CpuModel,
        nested: bool,
        boot_timeout: Duration,
        seed: u64,
        unload_busy: UnloadBusy,
    ) -> Ctx {
        Ctx {
            link,
            cpu,
            nested,
            boot_timeout,
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))),
            epoch: Arc::default(),
            rebooting: Arc::default(),
            current: Arc::default(),
            log: Arc::default(),
            began: Instant::now(),
            unload_busy,
            reloads: Arc::default(),
            loops: Arc::default(),
        }
    }

    /// Keeps a loop's report unless an earlier-read one ran more rounds (reports only grow).
    pub fn loop_report(&self, id: u64, r: LoopReport, finished: bool) {
        let mut loops = self.loops.lock().unwrap();
        let slot = loops.entry(id).or_default();
        if slot.report.as_ref().is_none_or(|old| old.rounds <= r.rounds) {
            slot.report = Some(r);
        }
        slot.finished |= finished;
    }

    /// Every reload of the iteration so far: the host's and the in-guest loops' (a loop whose
    /// last report was never read counts as unreported, with what it reported until then).
    pub fn reload_counts(&self) -> ReloadCounts {
        let mut c = self.reloads.lock().unwrap().clone();
        for slot in self.loops.lock().unwrap().values() {
            let mut l = slot.report.as_ref().map(LoopReport::as_loop).unwrap_or_default();
            if !slot.finished {
                (l.loops, l.loops_unreported) = (0, 1);
            }
            c.merge(&l);
        }
        c
    }

    /// A random duration in `[min_ms, max_ms]`.
    pub fn jitter(&self, min_ms: u64, max_ms: u64) -> Duration {
        Duration::from_millis(self.rng.lock().unwrap().u64(min_ms..=max_ms))
    }

    /// A fresh seed for an in-guest loop.
    pub fn seed(&self) -> u32 {
        self.rng.lock().unwrap().u32(..)
    }

    /// The current reboot epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Whether a reboot step is waiting for the guest to come back.
    pub fn rebooting(&self) -> bool {
        self.rebooting.load(Ordering::SeqCst) > 0
    }

    /// Records a step's result.
    pub fn note(&self, step: &str, result: impl Into<String>) {
        self.note_with(step, result, None, None);
    }

    /// Records a step's result, with the boot it brought up.
    pub fn note_boot(&self, step: &str, result: impl Into<String>, boot: Option<crate::guest::BootInfo>) {
        self.note_with(step, result, boot, None);
    }

    /// Records a step's result, with the boot it brought up and what it measured.
    pub fn note_with(
        &self,
        step: &str,
        result: impl Into<String>,
        boot: Option<crate::guest::BootInfo>,
        detail: Option<crate::results::step::StepDetail>,
    ) {
        let t = self.began.elapsed().as_secs_f64();
        let r = StepRecord { t, step: step.to_string(), result: result.into(), boot, detail };
        tracing::debug!(step = %r.step, result = %r.result, "step");
        self.log.lock().unwrap().push(r);
    }
}
