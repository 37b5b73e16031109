//! What a run is asked to do ([`Plan`]) and what it tells while it goes ([`Progress`]).

use std::path::PathBuf;

use crate::case::LoadedCase;
use crate::machine::{Accel, CpuModel};

/// What to run.
#[derive(Clone)]
pub struct Plan {
    /// The cases.
    pub cases: Vec<LoadedCase>,
    /// The CPU models.
    pub cpus: Vec<&'static CpuModel>,
    /// The accelerator.
    pub accel: Accel,
    /// Overrides every case's iteration count.
    pub iterations: Option<u32>,
    /// Where images are built and cached.
    pub build_dir: PathBuf,
    /// The run's evidence directory.
    pub run_dir: PathBuf,
    /// The seed of all random choices.
    pub seed: u64,
    /// Run every case on each of these images and compare them (overrides a case's `compare`).
    pub compare: Option<Vec<String>>,
    /// Stop a case × CPU × image at its first panic matching this (Some(None): the case's
    /// hunted signature, or any panic).
    pub until_panic: Option<Option<String>>,
    /// Dumps at panics and hangs.
    pub dumps: crate::dump::DumpOptions,
    /// Guests run in parallel per case × CPU × image (at least 1).
    pub jobs: usize,
    /// Memory the guests may use together, MiB (None: 80% of what is available).
    pub memory_budget_mib: Option<u64>,
    /// Run only this shard's share of the iterations.
    pub shard: Option<crate::results::shard::Shard>,
    /// Let cases that allow it restore a snapshot instead of rebooting (`--no-snapshot`: false).
    pub snapshots: bool,
    /// Keep the snapshot state disks in the run directory when the run ends (`--keep-state`);
    /// by default they are deleted then (they are most of a snapshot run's size).
    pub keep_state: bool,
    /// How long a sequential comparison may run (see [`Plan::sequential`]).
    pub budget: super::gate::Budget,
    /// Notified on Ctrl-C, SIGTERM or SIGHUP: the run stops at once (its guests are killed) and the
    /// report of what ran is written.
    pub interrupt: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// The command line that asked for the run, recorded in its report (default: this
    /// process's arguments).
    pub command: Vec<String>,
    /// Iterations of one build already run (by an earlier probe of a bisection): where that
    /// build is a sequential comparison's reference, they are its first iterations, and only
    /// what the comparison needs beyond them runs.
    pub banked: Option<Banked>,
    /// Faults the rig injects into its own runs, for its tests (none by default).
    pub inject: Inject,
}

/// Faults injected into a run, so the rig's tests can show how it meets them on real guests.
#[derive(Debug, Clone, Default)]
pub struct Inject {
    /// The first this many boots of each case × CPU × image have their vCPUs stopped (QMP
    /// `stop`) as they start: boots that go silent.
    pub silent_boots: u32,
    /// How long a boot's consoles may stay silent, the reboot after a panic's included
    /// (instead of the rig's own bounds).
    pub boot_silence: Option<std::time::Duration>,
}

/// One build's iterations run before, in their order.
#[derive(Debug, Clone)]
pub struct Banked {
    /// The build (image name).
    pub image: String,
    /// Its iterations, numbered from 1 without a gap.
    pub iterations: Vec<crate::results::IterationResult>,
}

impl Banked {
    /// The iterations of `image` in `runs` (several runs of it are one sequence, in order),
    /// numbered from 1.
    pub fn of(image: &str, runs: &[crate::results::CaseRun]) -> Banked {
        let mut iterations: Vec<_> = Vec::new();
        for run in runs.iter().filter(|r| r.image == image) {
            let mut its = run.iterations.clone();
            its.sort_by_key(|i| i.index);
            iterations.extend(its);
        }
        for (n, i) in (1..).zip(iterations.iter_mut()) {
            i.index = n;
        }
        Banked { image: image.to_string(), iterations }
    }
}

impl Plan {
    /// A plan with the defaults: each case's own iteration count, one guest at a time, dumps of
    /// panics and hangs (the first two per build and crash signature), snapshots where cases allow them, no sharding, seed 1.
    pub fn new(
        cases: Vec<LoadedCase>,
        cpus: Vec<&'static CpuModel>,
        accel: Accel,
        build_dir: PathBuf,
        run_dir: PathBuf,
    ) -> Plan {
        Plan {
            cases,
            cpus,
            accel,
            iterations: None,
            build_dir,
            run_dir,
            seed: 1,
            compare: None,
            until_panic: None,
            dumps: Default::default(),
            jobs: 1,
            memory_budget_mib: None,
            shard: None,
            snapshots: true,
            keep_state: false,
            budget: super::gate::DEFAULT_BUDGET,
            interrupt: None,
            banked: None,
            inject: Inject::default(),
            command: std::env::args().collect(),
        }
    }

    /// Whether a comparison of `builds` builds runs sequentially (until its verdict is decided,
    /// within [`Plan::budget`]): unless `--iterations` fixes the count, the run is a shard (a
    /// shard sees only part of the iterations) or it hunts `--until-panic`.
    pub fn sequential(&self, builds: usize) -> bool {
        builds > 1 && self.iterations.is_none() && self.shard.is_none() && self.until_panic.is_none()
    }
}

/// Progress, for the command line's progress line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The case.
    pub case: String,
    /// The CPU model.
    pub cpu: String,
    /// The image (a comparison's builds are told apart by it).
    pub image: String,
    /// Iterations done.
    pub done: u32,
    /// Iterations planned.
    pub of: u32,
    /// Panics so far on this case × CPU.
    pub panics: u32,
    /// Seconds since this case × CPU began.
    pub elapsed: f64,
    /// The last iteration's outcome word.
    pub last: String,
    /// What a guest is doing before the iterations can start (coal's first-boot setup), shown
    /// instead of the iteration counts while there is one.
    pub stage: Option<String>,
}
