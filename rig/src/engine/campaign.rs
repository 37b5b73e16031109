//! A campaign: every case on every CPU model and image, in a fixed order (the order sharding
//! counts in); comparisons between builds at the end. The report is rewritten after every
//! iteration, so an interrupted run leaves the report of what ran; the final one goes into the
//! build directory's history database.

use crate::case::LoadedCase;
use crate::machine::CpuModel;
use crate::report;
use crate::results::model::Mode;
use crate::results::shard::Assigned;
use crate::results::{CaseRun, RunReport, StopReason};

pub use super::plan::{Plan, Progress};
use super::shared::Shared;

/// Runs the plan; `progress` is called after every iteration.
pub async fn run(plan: &Plan, progress: &mut (dyn FnMut(&Progress) + Send)) -> RunReport {
    // The run directory may be new to the caller too (a bench's per-part directory): made here,
    // owner-only like every run directory, so no worker finds it missing.
    let made = std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&plan.run_dir)
        .err()
        .map(|e| format!("creating the run directory {}: {e}", plan.run_dir.display()));
    // Held while the run goes: `runs prune` leaves such a directory alone.
    let _running = crate::rundir::lock::hold(&plan.run_dir)
        .map_err(|e| tracing::warn!("taking the run lock in {}: {e}", plan.run_dir.display()))
        .ok();
    let report = RunReport {
        schema: crate::results::model::SCHEMA,
        accel: plan.accel.as_str().into(),
        seed: plan.seed,
        run_dir: plan.run_dir.display().to_string(),
        shard: plan.shard.map(|s| s.to_string()),
        stopped_early: None,
        finished: false,
        evidence_errors: made.into_iter().collect(),
        runs: Vec::new(),
        comparisons: Vec::new(),
        bisection: None,
        provenance: crate::results::provenance::Provenance {
            command: plan.command.clone(),
            cwd: std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
            started: crate::results::provenance::rfc3339(std::time::SystemTime::now()),
            qemu_version: crate::host::provenance::qemu_version(),
            rig_commit: crate::host::provenance::rig_commit(),
            host: crate::host::provenance::host_name(),
            ..Default::default()
        },
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
    let assigned = crate::results::shard::assign(&planned, plan.shard);
    let shared = Shared::new(report, progress);
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
            shared.stop_early(StopReason::Interrupted);
        }
    }
    let mut report = shared.into_report();
    for run in &mut report.runs {
        run.iterations.sort_by_key(|i| i.index);
    }
    for (group, hunts) in groups {
        // An interrupted run may not have reached every build of a comparison.
        if group.len() > 1 && group.iter().all(|&i| i < report.runs.len()) {
            let runs: Vec<&CaseRun> = group.iter().map(|&i| &report.runs[i]).collect();
            let cmp = crate::results::compare::compare(&runs, hunts.as_ref());
            report.comparisons.push(cmp);
        }
    }
    report.finished = true;
    report.provenance.ended = crate::results::provenance::rfc3339(std::time::SystemTime::now());
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
    // The guests are gone: their saved VM states serve no one now.
    if !plan.keep_state {
        match crate::rundir::remove_state_disks(&plan.run_dir) {
            Ok((0, _)) => {}
            Ok((n, bytes)) => {
                tracing::info!(n, mib = bytes >> 20, "deleted the snapshot state disks (--keep-state keeps them)")
            }
            Err(e) => tracing::warn!("deleting the state disks in {}: {e}", plan.run_dir.display()),
        }
    }
    report
}

/// Runs every unit in order; the builds of a sequential comparison run side by side, taking
/// turns through its gate (dropping this future kills the guests it runs).
async fn run_units(
    plan: &Plan,
    units: &[(LoadedCase, &'static CpuModel, usize)],
    planned: &[u32],
    assigned: &[Assigned],
    groups: &[(Vec<usize>, Option<crate::case::model::Signature>)],
    shared: &Shared<'_>,
) {
    for (group, _) in groups {
        let sequential = plan.sequential(group.len());
        let budget = plan.budget.iterations_for(units[group[0]].0.case.iterations);
        let all = Assigned::all(budget);
        // A reference whose first iterations ran before (a bisection's newest build).
        let banked = plan.banked.as_ref().filter(|b| sequential && b.image == units[group[0]].0.case.guest.image);
        for &k in group {
            let (lc, cpu, compared) = &units[k];
            let c = &lc.case;
            let earlier = banked.filter(|_| k == group[0]).map(|b| b.iterations.clone()).unwrap_or_default();
            let mut run = CaseRun {
                case: c.name.clone(),
                file: lc.file.display().to_string(),
                cpu: cpu.name.into(),
                image: c.guest.image.clone(),
                iterations_planned: if sequential { budget } else { planned[k] },
                assigned: if sequential { all.into() } else { assigned[k].into() },
                hunts: c.hunts.clone(),
                compared: *compared > 1,
                sequential,
                mode: if c.snapshot && plan.snapshots { Mode::SnapshotRestore } else { Mode::Boot },
                stopped: None,
                not_run: None,
                iterations: earlier,
                tally: Default::default(),
            };
            run.retally();
            let added = shared.add_run(run);
            debug_assert_eq!(added, k, "runs are added in unit order");
        }
        if sequential {
            let design = crate::stats::sequential::DEFAULT;
            // Guests that cannot share their image (a headnode's disks) run one at a time, as
            // they do outside comparisons.
            let heavy = group.iter().any(|&k| !crate::guest_os::parallel_ok_for(&units[k].0.case.guest.image));
            let jobs = if heavy { 1 } else { plan.jobs };
            let gate = super::gate::Gate::new(group.len(), jobs, design, budget, plan.budget.secs);
            if let Some(b) = banked {
                let hunts = units[group[0]].0.case.hunts.as_ref();
                let hits: Vec<_> = b.iterations.iter().map(|i| crate::results::compare::judged(hunts, i)).collect();
                gate.bank(0, &hits);
            }
            let build = |slot: usize, k: usize| {
                let (gate, all) = (&gate, &all);
                async move {
                    let (lc, cpu, _) = &units[k];
                    super::worker::run_case(plan, lc, cpu, *all, k, shared, Some((gate, slot))).await;
                    let not_run = shared.not_run_word(k);
                    gate.finish(
                        slot,
                        not_run.map_or(StopReason::IterationsEnded, |w| StopReason::NotRun { what: w.into() }),
                    );
                    shared.finish_run(k, |_| gate.stopped(slot));
                }
            };
            futures::future::join_all(group.iter().enumerate().map(|(slot, &k)| build(slot, k))).await;
            shared.write(plan);
        } else {
            for &k in group {
                let (lc, cpu, _) = &units[k];
                super::worker::run_case(plan, lc, cpu, assigned[k], k, shared, None).await;
                shared.write(plan);
            }
        }
    }
}
