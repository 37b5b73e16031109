//! A campaign: every case on every CPU model and image, in a fixed order (the order sharding
//! counts in); comparisons between builds at the end. The report is rewritten after every
//! iteration, so an interrupted run leaves the report of what ran; the final one goes into the
//! build directory's history database.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::case::{LoadedCase, VendorReq};
use crate::machine::{Accel, CpuModel, Vendor};
use crate::report::{self, CaseRun, RunReport};

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
    pub shard: Option<super::shard::Shard>,
    /// Let cases that allow it restore a snapshot instead of rebooting (`--no-snapshot`: false).
    pub snapshots: bool,
    /// How long a sequential comparison may run (see [`Plan::sequential`]).
    pub budget: super::gate::Budget,
    /// Notified on Ctrl-C or SIGTERM: the run stops at once (its guests are killed) and the
    /// report of what ran is written.
    pub interrupt: Option<std::sync::Arc<tokio::sync::Notify>>,
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
            budget: super::gate::DEFAULT_BUDGET,
            interrupt: None,
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

/// Why a case cannot run on a CPU model here, if it cannot. Pure.
pub fn skip_reason(req: VendorReq, nested: bool, cpu: &CpuModel, accel: Accel) -> Option<String> {
    let vendor_ok = match req {
        VendorReq::Any => true,
        VendorReq::Amd => cpu.vendor == Vendor::Amd,
        VendorReq::Intel => cpu.vendor == Vendor::Intel,
    };
    if !vendor_ok {
        return Some(format!("skipped: the case needs an {req:?} CPU model, '{}' is {}", cpu.name, cpu.vendor));
    }
    cpu.skip_reason(nested, accel)
}

/// Runs the plan; `progress` is called after every iteration.
pub async fn run(plan: &Plan, progress: &mut (dyn FnMut(&Progress) + Send)) -> RunReport {
    let report = RunReport {
        schema: report::model::SCHEMA,
        accel: plan.accel.as_str().into(),
        seed: plan.seed,
        run_dir: plan.run_dir.display().to_string(),
        shard: plan.shard.map(|s| s.to_string()),
        stopped_early: None,
        finished: false,
        evidence_errors: Vec::new(),
        runs: Vec::new(),
        comparisons: Vec::new(),
        bisection: None,
    };
    // Every case × CPU × image, in a fixed order: the order sharding counts in.
    let mut units: Vec<(LoadedCase, &'static CpuModel, usize)> = Vec::new();
    let mut groups: Vec<(Vec<usize>, Option<crate::case::model::Signature>)> = Vec::new();
    for lc in &plan.cases {
        let images: Vec<String> = match (&plan.compare, lc.case.compare.is_empty()) {
            (Some(list), _) => list.clone(),
            (None, false) => lc.case.compare.clone(),
            (None, true) => vec![lc.case.guest.image.clone()],
        };
        for &cpu in &plan.cpus {
            let mut group = Vec::new();
            for image in &images {
                let mut lc = lc.clone();
                lc.case.guest.image = image.clone();
                group.push(units.len());
                units.push((lc, cpu, images.len()));
            }
            groups.push((group, lc.case.hunts.clone()));
        }
    }
    let planned: Vec<u32> = units.iter().map(|(lc, _, _)| plan.iterations.unwrap_or(lc.case.iterations)).collect();
    let assigned = super::shard::assign(&planned, plan.shard);
    let shared = Shared {
        report: Mutex::new(report),
        progress: Mutex::new(progress),
        images: Default::default(),
        dump_ledger: Default::default(),
    };
    shared.write(plan);
    let interrupted = async {
        match &plan.interrupt {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = run_units(plan, &units, &planned, &assigned, &groups, &shared) => {}
        () = interrupted => {
            shared.report.lock().unwrap().stopped_early = Some("interrupted (Ctrl-C or SIGTERM)".into());
        }
    }
    let mut report = shared.report.into_inner().unwrap();
    for run in &mut report.runs {
        run.iterations.sort_by_key(|i| i.index);
    }
    for (group, hunts) in groups {
        // An interrupted run may not have reached every build of a comparison.
        if group.len() > 1 && group.iter().all(|&i| i < report.runs.len()) {
            let runs: Vec<&CaseRun> = group.iter().map(|&i| &report.runs[i]).collect();
            let cmp = super::compare::compare(&runs, hunts.as_ref());
            report.comparisons.push(cmp);
        }
    }
    report.finished = true;
    if let Err(e) = report::write(&plan.run_dir, &report) {
        report.evidence_errors.push(format!("writing the report in {}: {e}", plan.run_dir.display()));
    }
    // Off the async threads: a database another rig holds can keep this waiting (a bounded while).
    let (build_dir, run_dir, copy) = (plan.build_dir.clone(), plan.run_dir.clone(), report.clone());
    let recorded =
        tokio::task::spawn_blocking(move || crate::history::record_or_warn(&build_dir, &copy, &run_dir)).await;
    if let Err(e) = recorded {
        eprintln!("warning: the run was not recorded in the history: {e}");
    }
    report
}

/// Runs every unit in order; the builds of a sequential comparison run side by side, taking
/// turns through its gate (dropping this future kills the guests it runs).
async fn run_units(
    plan: &Plan,
    units: &[(LoadedCase, &'static CpuModel, usize)],
    planned: &[u32],
    assigned: &[Vec<u32>],
    groups: &[(Vec<usize>, Option<crate::case::model::Signature>)],
    shared: &Shared<'_>,
) {
    for (group, _) in groups {
        let sequential = plan.sequential(group.len());
        let budget = plan.budget.iterations_for(units[group[0]].0.case.iterations);
        let all: Vec<u32> = (1..=budget).collect();
        for &k in group {
            let (lc, cpu, compared) = &units[k];
            let c = &lc.case;
            shared.report.lock().unwrap().runs.push(CaseRun {
                case: c.name.clone(),
                file: lc.file.display().to_string(),
                cpu: cpu.name.into(),
                image: c.guest.image.clone(),
                iterations_planned: if sequential { budget } else { planned[k] },
                assigned: if sequential { all.clone() } else { assigned[k].clone() },
                hunts: c.hunts.clone(),
                compared: *compared > 1,
                sequential,
                mode: if c.snapshot && plan.snapshots { "snapshot-restore" } else { "boot" }.into(),
                stopped: None,
                not_run: None,
                iterations: Vec::new(),
                tally: Default::default(),
            });
        }
        if sequential {
            let design = crate::stats::sequential::DEFAULT;
            // Heavy guests (coal headnodes) run one at a time, as they do outside comparisons.
            let heavy = group.iter().any(|&k| !super::target::Target::parallel_ok_for(&units[k].0.case.guest.image));
            let jobs = if heavy { 1 } else { plan.jobs };
            let gate = super::gate::Gate::new(group.len(), jobs, design, budget, plan.budget.secs);
            let build = |slot: usize, k: usize| {
                let (gate, all) = (&gate, &all);
                async move {
                    let (lc, cpu, _) = &units[k];
                    super::worker::run_case(plan, lc, cpu, all, k, shared, Some((gate, slot))).await;
                    let not_run = shared.report.lock().unwrap().runs[k].not_run.as_ref().map(|o| o.word());
                    gate.finish(
                        slot,
                        &not_run.map_or("its iterations ended".into(), |w| format!("it did not run ({w})")),
                    );
                    let mut r = shared.report.lock().unwrap();
                    let run = &mut r.runs[k];
                    if run.stopped.is_none() {
                        run.stopped = gate.stopped(slot);
                    }
                }
            };
            futures::future::join_all(group.iter().enumerate().map(|(slot, &k)| build(slot, k))).await;
            shared.write(plan);
        } else {
            for &k in group {
                let (lc, cpu, _) = &units[k];
                super::worker::run_case(plan, lc, cpu, &assigned[k], k, shared, None).await;
                shared.write(plan);
            }
        }
    }
}

/// What the workers of a run share: the report (rewritten after every iteration), the
/// progress callback, the images and the ledger of dumps kept.
pub struct Shared<'p> {
    /// The report so far.
    pub report: Mutex<RunReport>,
    /// Called after every iteration.
    pub progress: Mutex<&'p mut (dyn FnMut(&Progress) + Send)>,
    /// Images already found or built in this run (finding one asks apt about every package).
    pub images: tokio::sync::Mutex<std::collections::HashMap<String, super::target::Target>>,
    /// The dumps kept so far, per build and crash signature.
    pub dump_ledger: crate::dump::DumpLedger,
}

impl Shared<'_> {
    /// The image `name`, found or built once per run.
    pub async fn target(&self, build_dir: &std::path::Path, name: &str) -> anyhow::Result<super::target::Target> {
        let mut images = self.images.lock().await;
        if let Some(t) = images.get(name) {
            return Ok(t.clone());
        }
        let t = super::target::Target::load(build_dir, name).await?;
        // A coal image's manifest changes during a run (its setup snapshot): read it each time.
        if matches!(t, super::target::Target::Linux(_)) {
            images.insert(name.to_string(), t.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::lookup;

    #[test]
    fn vendor_requirements_skip() {
        let why = skip_reason(VendorReq::Amd, false, lookup("cascadelake").unwrap(), Accel::Kvm).unwrap();
        assert!(why.contains("needs an Amd CPU model"), "{why}");
        assert!(skip_reason(VendorReq::Amd, true, lookup("epyc").unwrap(), Accel::Tcg).is_none());
        assert!(
            skip_reason(VendorReq::Any, true, lookup("icelake").unwrap(), Accel::Tcg).unwrap().contains("needs KVM")
        );
    }
}
