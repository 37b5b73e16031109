//! What the workers of a run share.

use std::sync::{Arc, Mutex};

use super::plan::{Plan, Progress};
use crate::report;
use crate::results::RunReport;
use crate::target::Target;

/// What the workers of a run share: the report (rewritten after every iteration), the
/// progress callback, the images and the ledger of dumps kept.
pub struct Shared<'p> {
    /// The report so far.
    pub report: Mutex<RunReport>,
    /// Called after every iteration.
    pub progress: Mutex<&'p mut (dyn FnMut(&Progress) + Send)>,
    /// Images already found or built in this run (finding one asks apt about every package).
    pub images: tokio::sync::Mutex<std::collections::HashMap<String, Arc<dyn Target>>>,
    /// The dumps kept so far, per build and crash signature.
    pub dump_ledger: crate::dump::DumpLedger,
}

impl Shared<'_> {
    /// The image `name`, found or built once per run.
    pub async fn target(&self, build_dir: &std::path::Path, name: &str) -> anyhow::Result<Arc<dyn Target>> {
        let mut images = self.images.lock().await;
        if let Some(t) = images.get(name) {
            return Ok(Arc::clone(t));
        }
        let t = crate::target::load(build_dir, name).await?;
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
