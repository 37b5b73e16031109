//! What the workers of a run share. The run's report is owned here: workers hand in their
//! results through the methods below and never edit it themselves.

use std::sync::{Arc, Mutex};

use super::plan::{Plan, Progress};
use crate::guest_os::Target;
use crate::report;
use crate::results::{CaseRun, IterationResult, Outcome, RunReport, StopReason};

/// What the workers of a run share: the report (rewritten after every iteration), the
/// progress callback, the images and the ledger of dumps kept.
pub struct Shared<'p> {
    /// The report so far.
    report: Mutex<RunReport>,
    /// Called after every iteration.
    progress: Mutex<&'p mut (dyn FnMut(&Progress) + Send)>,
    /// Images already found or built in this run (finding one asks apt about every package).
    pub images: tokio::sync::Mutex<std::collections::HashMap<String, Arc<dyn Target>>>,
    /// The dumps kept so far, per build and crash signature.
    pub dump_ledger: crate::dump::DumpLedger,
}

/// What a run has done so far, for its progress line.
#[derive(Debug, Clone, Default)]
pub struct RunSoFar {
    /// Iterations done.
    pub done: u32,
    /// Panics among them.
    pub panics: u32,
    /// The last iteration's outcome word.
    pub last: String,
}

impl RunSoFar {
    fn of(run: &CaseRun) -> RunSoFar {
        RunSoFar {
            done: run.iterations.len() as u32,
            panics: run.tally.panics,
            last: run.iterations.last().map(|x| x.outcome.word().to_string()).unwrap_or_default(),
        }
    }
}

impl<'p> Shared<'p> {
    /// Shares `report` (its runs to come) and `progress` among a run's workers.
    pub fn new(report: RunReport, progress: &'p mut (dyn FnMut(&Progress) + Send)) -> Self {
        Shared {
            report: Mutex::new(report),
            progress: Mutex::new(progress),
            images: Default::default(),
            dump_ledger: Default::default(),
        }
    }

    /// The report, once every worker is done.
    pub fn into_report(self) -> RunReport {
        self.report.into_inner().unwrap()
    }
}

impl Shared<'_> {
    /// Adds a run (no iterations yet); its results are handed in under the index returned.
    pub fn add_run(&self, run: CaseRun) -> usize {
        let mut r = self.report.lock().unwrap();
        r.runs.push(run);
        r.runs.len() - 1
    }

    /// Run `idx` could not run at all.
    pub fn not_run(&self, idx: usize, why: Outcome) {
        self.report.lock().unwrap().runs[idx].not_run = Some(why);
    }

    /// The word for why run `idx` did not run, if it did not.
    pub fn not_run_word(&self, idx: usize) -> Option<&'static str> {
        self.report.lock().unwrap().runs[idx].not_run.as_ref().map(|o| o.word())
    }

    /// The whole run stopped early, and why.
    pub fn stop_early(&self, why: StopReason) {
        self.report.lock().unwrap().stopped_early = Some(why);
    }

    /// Hands in an iteration of run `idx`; `stop` says why the run stops here, if it does and
    /// no earlier reason was given (then it returns true).
    pub fn record(&self, idx: usize, it: IterationResult, stop: Option<StopReason>) -> (RunSoFar, bool) {
        let mut r = self.report.lock().unwrap();
        let run = &mut r.runs[idx];
        run.iterations.push(it);
        run.retally();
        let stopped = stop.is_some() && run.stopped.is_none();
        if stopped {
            run.stopped = stop;
        }
        (RunSoFar::of(run), stopped)
    }

    /// What run `idx` has done so far.
    pub fn so_far(&self, idx: usize) -> RunSoFar {
        RunSoFar::of(&self.report.lock().unwrap().runs[idx])
    }

    /// Run `idx`'s iterations are all in: sorts them, and gives the reason it stopped when it
    /// has none yet (`why` sees its results).
    pub fn finish_run(&self, idx: usize, why: impl FnOnce(&CaseRun) -> Option<StopReason>) {
        let mut r = self.report.lock().unwrap();
        let run = &mut r.runs[idx];
        run.iterations.sort_by_key(|i| i.index);
        if run.stopped.is_none() {
            run.stopped = why(run);
        }
    }

    /// Shows a progress line.
    pub fn show(&self, p: &Progress) {
        (self.progress.lock().unwrap())(p);
    }

    /// The image `name`, found or built once per run.
    pub async fn target(&self, build_dir: &std::path::Path, name: &str) -> anyhow::Result<Arc<dyn Target>> {
        let mut images = self.images.lock().await;
        if let Some(t) = images.get(name) {
            return Ok(Arc::clone(t));
        }
        let t = crate::guest_os::load(build_dir, name).await?;
        if let Some(release) = t.kernel_release() {
            self.report.lock().unwrap().provenance.kernel_releases.insert(name.to_string(), release);
        }
        if t.reusable() {
            images.insert(name.to_string(), Arc::clone(&t));
        }
        Ok(t)
    }

    /// Rewrites report.json and junit.xml; a failure is kept in the report (the first of a
    /// kind), so the run's table and exit code say the evidence is incomplete.
    pub fn write(&self, plan: &Plan) {
        let mut r = self.report.lock().unwrap();
        if let Err(e) = report::write(&plan.run_dir, &r) {
            let msg = format!("writing the report in {}: {e}", plan.run_dir.display());
            tracing::error!("{msg}");
            if !r.evidence_errors.contains(&msg) {
                r.evidence_errors.push(msg);
            }
        }
    }
}
