//! What a run found, as written to `report.json` (schema documented in `testcases/README.md`).

use serde::{Deserialize, Serialize};

use crate::results::reloads::ReloadCounts;
use crate::results::step::StepRecord;
use crate::results::{Outcome, StopReason, Verdict};

/// `report.json` schema version; bump on incompatible changes.
pub const SCHEMA: u32 = 1;

/// The exit code of a run in which nothing ran: every case × CPU was skipped. Not 0, so CI does
/// not turn green having tested nothing.
pub const NOTHING_RAN: i32 = 4;

/// The exit code of an interrupted run (Ctrl-C, SIGTERM or SIGHUP), also in the history.
pub const INTERRUPTED: i32 = 130;

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Schema version.
    pub schema: u32,
    /// The accelerator.
    pub accel: String,
    /// The seed of every random choice (pass `--seed` to replay the same jitter).
    pub seed: u64,
    /// The run directory.
    pub run_dir: String,
    /// The shard this run was (`K/N`), when the campaign was split.
    pub shard: Option<String>,
    /// Set when the run stopped early (Ctrl-C, run deadline), written as its text.
    #[serde(default, serialize_with = "super::stop::as_text_opt", deserialize_with = "super::stop::typed_or_text_opt")]
    pub stopped_early: Option<StopReason>,
    /// False in the copies written while the run goes (after every iteration): a report that
    /// stays `false` belongs to a run that never ended (the rig was killed). Reports written
    /// before this field existed read as finished.
    #[serde(default = "finished_default")]
    pub finished: bool,
    /// Evidence the rig could not write (this report itself, on a full disk): the run's
    /// results cannot be trusted to be all there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_errors: Vec<String>,
    /// One entry per case × CPU model × image.
    pub runs: Vec<CaseRun>,
    /// Build comparisons (`--compare`, or a case's `compare`).
    pub comparisons: Vec<crate::results::comparison::Comparison>,
    /// A bisection's result (`--bisect`); the probes' runs and comparisons are above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bisection: Option<crate::results::bisection::Bisection>,
    /// Where the run came from: command line, times, QEMU, kernels, rig commit, host (empty
    /// in reports written before it was recorded).
    #[serde(default)]
    pub provenance: crate::results::provenance::Provenance,
}

fn finished_default() -> bool {
    true
}

/// One case on one CPU model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRun {
    /// The case.
    pub case: String,
    /// The case file.
    pub file: String,
    /// The CPU model.
    pub cpu: String,
    /// The image.
    pub image: String,
    /// The iterations asked for (a sequential comparison's: its budget per build).
    pub iterations_planned: u32,
    /// Part of a sequential comparison: it ran until the verdict was decided, not a fixed count.
    #[serde(default)]
    pub sequential: bool,
    /// The iteration indices this run was assigned (all of them unless sharded).
    pub assigned: crate::results::assigned::AssignedIndices,
    /// The signature the case hunts (what a comparison counts as a hit).
    pub hunts: Option<crate::case::model::Signature>,
    /// Part of a comparison: judged by the comparison's conclusion, not iteration verdicts.
    pub compared: bool,
    /// How iterations started.
    #[serde(default)]
    pub mode: Mode,
    /// Why it stopped before the planned iterations (`--until-panic`; a sequential comparison:
    /// decided, its budget, or the time budget).
    #[serde(default, deserialize_with = "crate::results::stop::typed_or_text_opt")]
    pub stopped: Option<StopReason>,
    /// Set when the case could not run at all (skipped or an infrastructure error).
    pub not_run: Option<Outcome>,
    /// The iterations that ran.
    pub iterations: Vec<IterationResult>,
    /// Counts.
    pub tally: Tally,
}

/// How a run's iterations started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Each from the state the last one left (a fresh boot after a failure). Reports written
    /// before the mode was recorded read as this.
    #[default]
    #[serde(alias = "")]
    Boot,
    /// Each from the saved post-setup state.
    SnapshotRestore,
}

impl Mode {
    /// As written in `report.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Boot => "boot",
            Mode::SnapshotRestore => "snapshot-restore",
        }
    }
}

/// One iteration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IterationResult {
    /// 1-based.
    pub index: u32,
    /// What happened.
    pub outcome: Outcome,
    /// Against the expectation.
    pub verdict: Verdict,
    /// Seconds it took.
    pub secs: f64,
    /// Its random seed.
    pub seed: u64,
    /// The guest session's evidence directory.
    pub evidence: String,
    /// What the steps did.
    pub steps: Vec<StepRecord>,
    /// The module reloads it ran, counted.
    #[serde(default)]
    pub reloads: ReloadCounts,
}

/// Counts for a case × CPU model.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tally {
    /// Iterations run.
    pub ran: u32,
    /// Verdict pass.
    pub pass: u32,
    /// Verdict fail.
    pub fail: u32,
    /// Verdict error (infrastructure).
    pub error: u32,
    /// Verdict skipped.
    pub skipped: u32,
    /// Outcome panic.
    pub panics: u32,
    /// Outcome hang.
    pub hangs: u32,
    /// Panics per iteration run.
    pub panic_rate: f64,
    /// Distinct crash titles seen, with counts.
    pub titles: Vec<(String, u32)>,
    /// Module reloads over every iteration.
    #[serde(default)]
    pub reloads: ReloadCounts,
}

impl CaseRun {
    /// Recomputes the tally from the iterations.
    pub fn retally(&mut self) {
        let mut t = Tally::default();
        for it in &self.iterations {
            t.ran += 1;
            t.reloads.merge(&it.reloads);
            match it.verdict {
                Verdict::Pass => t.pass += 1,
                Verdict::Fail => t.fail += 1,
                Verdict::Error => t.error += 1,
                Verdict::Skipped => t.skipped += 1,
            }
            match &it.outcome {
                Outcome::Panic { title, .. } => {
                    t.panics += 1;
                    match t.titles.iter_mut().find(|(x, _)| x == title) {
                        Some((_, n)) => *n += 1,
                        None => t.titles.push((title.clone(), 1)),
                    }
                }
                Outcome::Hang { .. } => t.hangs += 1,
                _ => {}
            }
        }
        t.panic_rate = if t.ran == 0 { 0.0 } else { f64::from(t.panics) / f64::from(t.ran) };
        self.tally = t;
    }

    /// When the run stopped early (`stopped_early`) before this case × CPU ran all its assigned
    /// iterations: how many ran and how many it had.
    pub fn cut_short(&self) -> Option<(usize, usize)> {
        let (ran, of) = (self.iterations.len(), self.assigned.len());
        (self.stopped.is_none() && self.not_run.is_none() && ran < of).then_some((ran, of))
    }

    /// The verdict of the whole case × CPU: fail if any iteration failed, error if any could not
    /// be judged, skipped if nothing ran, else pass.
    pub fn verdict(&self) -> Verdict {
        if let Some(o) = &self.not_run {
            return if matches!(o, Outcome::Skipped { .. }) { Verdict::Skipped } else { Verdict::Error };
        }
        let t = &self.tally;
        if t.fail > 0 {
            Verdict::Fail
        } else if t.error > 0 {
            Verdict::Error
        } else if t.pass == 0 {
            Verdict::Skipped
        } else {
            Verdict::Pass
        }
    }
}

impl RunReport {
    /// The process exit code: 0 all as expected, 1 an expectation failed, 3 infrastructure,
    /// [`NOTHING_RAN`] (4) when every case × CPU was skipped, [`INTERRUPTED`] (130) when a
    /// signal stopped it.
    pub fn exit_code(&self) -> i32 {
        // A comparison of builds that were all skipped concludes nothing either.
        if !self.finished || (!self.evidence_errors.is_empty() && self.verdict_exit_code() != 1) {
            3
        } else if self.interrupted() {
            INTERRUPTED
        } else if self.nothing_ran() {
            NOTHING_RAN
        } else {
            self.verdict_exit_code()
        }
    }

    /// Whether a signal stopped the run (Ctrl-C, SIGTERM, SIGHUP), not its own deadline.
    pub fn interrupted(&self) -> bool {
        self.stopped_early.as_ref().is_some_and(StopReason::is_interrupted)
    }

    /// True when no case × CPU ran an iteration: every one was skipped (an Intel model that
    /// must nest under TCG, `--cpu host` without KVM, ...). Such a run tested nothing.
    pub fn nothing_ran(&self) -> bool {
        self.finished && self.stopped_early.is_none() && self.runs.iter().all(|r| r.verdict() == Verdict::Skipped)
    }

    fn verdict_exit_code(&self) -> i32 {
        let verdicts: Vec<Verdict> = self.runs.iter().filter(|r| !r.compared).map(CaseRun::verdict).collect();
        let compared_errors =
            self.runs.iter().any(|r| r.compared && r.verdict() == Verdict::Error && r.iterations.is_empty());
        let unfixed = self
            .comparisons
            .iter()
            .flat_map(|c| &c.conclusions)
            .any(|c| c.status != crate::results::comparison::Status::Fixed);
        if verdicts.contains(&Verdict::Fail) || unfixed {
            1
        } else if verdicts.contains(&Verdict::Error) || compared_errors {
            3
        } else {
            0
        }
    }
}
