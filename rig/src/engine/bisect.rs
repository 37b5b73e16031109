//! Runs a bisection ([`crate::results::bisection`]): each probe is a campaign of its own.

use super::campaign::{self, Plan, Progress};
use crate::results::bisection::{Bisection, End, Next, Probe, ProbeVerdict, Search, answer};
use crate::results::compare::{self, Status};
use crate::results::model::RunReport;

/// A plan like `base` with its own run directory (each probe keeps its evidence apart), the
/// probe's kind (fixed count or comparison) still to set.
fn probe_plan(base: &Plan, run_dir: std::path::PathBuf) -> Plan {
    Plan { run_dir, iterations: None, compare: None, until_panic: None, shard: None, ..base.clone() }
}

/// Runs the bisection of `plan`'s one case on its first CPU model over `builds` (oldest
/// first). Each probe is a campaign of its own in `<run dir>/probe-K-<build>`; their reports
/// are returned with the result.
pub async fn run(
    plan: &Plan,
    builds: &[String],
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> (Bisection, Vec<RunReport>) {
    let case = &plan.cases[0].case;
    let newest = builds[builds.len() - 1].clone();
    let mut search = Search::new(builds.len());
    let mut probes = Vec::new();
    let mut reports: Vec<RunReport> = Vec::new();
    while let Some(next) = search.next() {
        let i = next.position(builds.len());
        let dir = match crate::rundir::fresh_subdir(&plan.run_dir, &format!("probe-{}-{}", probes.len() + 1, builds[i]))
        {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("a probe's run directory: {e:#}");
                search.stop(End::Incomplete);
                break;
            }
        };
        let mut p = probe_plan(plan, dir.clone());
        if next == Next::Newest {
            // Until its first hit of the hunted signature, within the budget.
            p.iterations = Some(plan.budget.iterations_for(case.iterations));
            p.until_panic = Some(None);
            p.cases[0].case.guest.image = newest.clone();
            p.cases[0].case.compare.clear();
        } else {
            p.compare = Some(vec![newest.clone(), builds[i].clone()]);
            // The newest build's iterations so far are the reference's first: each probe runs
            // only what its comparison needs beyond them.
            p.banked = reports.last().map(|r| super::plan::Banked::of(&newest, &r.runs));
        }
        let began = std::time::Instant::now();
        let r = campaign::run(&p, progress).await;
        let (verdict, hits, iterations, text) = read_probe(&r, next, case.hunts.as_ref());
        probes.push(Probe {
            build: builds[i].clone(),
            position: i + 1,
            verdict,
            hits,
            iterations,
            secs: began.elapsed().as_secs_f64(),
            text,
            run_dir: dir.display().to_string(),
        });
        let stopped = r.stopped_early.is_some() || !r.finished;
        reports.push(r);
        if stopped {
            search.stop(End::Incomplete);
            break;
        }
        search.record(verdict);
    }
    let bisection = Bisection {
        case: case.name.clone(),
        cpu: plan.cpus[0].name.into(),
        builds: builds.to_vec(),
        first_bad: search.first_bad().map(|i| builds[i].clone()),
        answer: answer(&search, builds, &probes, crate::stats::sequential::DEFAULT.alpha),
        status: search.status().unwrap_or(End::Incomplete),
        probes,
    };
    (bisection, reports)
}

/// A probe's verdict from its report.
fn read_probe(
    r: &RunReport,
    next: Next,
    hunts: Option<&crate::case::model::Signature>,
) -> (ProbeVerdict, u32, u32, String) {
    if next == Next::Newest {
        let Some(run) = r.runs.first() else { return (ProbeVerdict::Inconclusive, 0, 0, "it did not run".into()) };
        let b = compare::build_stats(run, hunts);
        let text = match &run.not_run {
            Some(o) => format!("it could not run: {}", o.word()),
            None => b.verdict_line(),
        };
        let v = if b.hits > 0 { ProbeVerdict::Bad } else { ProbeVerdict::Inconclusive };
        return (v, b.hits, b.iterations, text);
    }
    let Some(c) = r.comparisons.first() else {
        return (ProbeVerdict::Inconclusive, 0, 0, "no comparison: a build did not run (see its report)".into());
    };
    let (k, b) = (&c.conclusions[0], &c.builds[1]);
    let v = match k.status {
        Status::NotFixed => ProbeVerdict::Bad,
        Status::Fixed => ProbeVerdict::Good,
        Status::Inconclusive | Status::NotExercised => ProbeVerdict::Inconclusive,
    };
    (v, b.hits, b.iterations, k.text.clone())
}
