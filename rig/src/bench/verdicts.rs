//! Verdict speed: how soon a sequential comparison decides against the fixed count it
//! replaces, on the OS-7410 miniature (a full reproducer) and its rare race; and what a
//! bisection over the fixture series costs.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::case::LoadedCase;
use crate::engine::campaign::{self, Plan};
use crate::machine::{Accel, cpu};
use crate::stats::sequential;

/// One comparison run, timed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timed {
    /// Wall-clock seconds.
    pub secs: f64,
    /// Iterations per build (reference first).
    pub iterations: Vec<u32>,
    /// The conclusion about the first candidate.
    pub conclusion: String,
}

/// Time to a FIXED verdict: sequential against a fixed count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimeToFixed {
    pub sequential: Timed,
    pub fixed: Timed,
    /// sequential / fixed wall-clock time (target: at most 0.5).
    pub ratio: f64,
}

/// The rare race: the sequential run against the fixed count with the same error rates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rare {
    pub sequential: Timed,
    /// The reference's hit rate in the run.
    pub reference_rate: f64,
    /// Iterations per build a fixed-count Fisher test needs for the same α and β at that rate.
    pub fixed_count: Option<u32>,
    /// Iterations per build the sequential method needs on average at that rate.
    pub expected_sequential: Option<f64>,
}

/// A bisection over a series of builds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bisect {
    pub builds: usize,
    pub probes: usize,
    /// Iterations over every probe and build.
    pub iterations: u32,
    pub secs: f64,
    pub answer: String,
}

/// A plan for `cases` in `run_dir` (created here, as the command line's run directories are).
fn plan(cases: Vec<LoadedCase>, accel: Accel, build_dir: &Path, run_dir: &Path) -> Plan {
    if let Err(e) = std::fs::create_dir_all(run_dir) {
        tracing::error!("creating {}: {e}", run_dir.display());
    }
    let memory = cases.iter().map(|c| c.case.guest.memory_mib).max().unwrap_or(512);
    Plan {
        jobs: crate::host::memory::default_jobs(memory),
        dumps: crate::dump::DumpOptions { policy: crate::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(cases, vec![cpu::lookup("epyc").expect("epyc")], accel, build_dir.into(), run_dir.into())
    }
}

/// Runs `plan` (one comparison), timed; with the comparison itself.
async fn timed(plan: &Plan) -> Result<(Timed, crate::results::compare::Comparison)> {
    let began = Instant::now();
    let r = campaign::run(plan, &mut |_| {}).await;
    let secs = began.elapsed().as_secs_f64();
    let c =
        r.comparisons.into_iter().next().context("the case ran no comparison (a build did not run: see its report)")?;
    let t = Timed {
        secs,
        iterations: c.builds.iter().map(|b| b.iterations).collect(),
        conclusion: c.conclusions.first().map(|k| k.text.clone()).unwrap_or_default(),
    };
    Ok((t, c))
}

/// Runs `case` (a comparison) sequentially, then with `fixed` iterations per build, both with
/// `seed` (the race's jitter).
pub async fn time_to_fixed(
    case: LoadedCase,
    accel: Accel,
    fixed: u32,
    seed: u64,
    build_dir: &Path,
    dir: &Path,
) -> Result<TimeToFixed> {
    let one = |iterations, side: &str| Plan {
        iterations,
        seed,
        ..plan(vec![case.clone()], accel, build_dir, &dir.join(format!("{side}-{seed}")))
    };
    let (sequential, _) = timed(&one(None, "sequential")).await?;
    let (fixed, _) = timed(&one(Some(fixed), "fixed")).await?;
    let ratio = sequential.secs / fixed.secs;
    Ok(TimeToFixed { sequential, fixed, ratio })
}

/// Runs the rare race's comparison sequentially and sets it against the fixed count.
pub async fn rare(case: LoadedCase, accel: Accel, build_dir: &Path, dir: &Path) -> Result<Rare> {
    let (sequential, c) = timed(&plan(vec![case], accel, build_dir, dir)).await?;
    let rate = c.builds[0].rate;
    let design = sequential::DEFAULT;
    Ok(Rare {
        sequential,
        reference_rate: rate,
        fixed_count: (rate > 0.0).then(|| sequential::fixed_count_for(&design, rate, 5000)).flatten(),
        expected_sequential: (rate > 0.0).then(|| sequential::expected_iterations(&design, rate, 5000)),
    })
}

/// Bisects `case` over `builds` (oldest first).
pub async fn bisect(case: LoadedCase, builds: &[String], accel: Accel, build_dir: &Path, dir: &Path) -> Result<Bisect> {
    let p = plan(vec![case], accel, build_dir, dir);
    let began = Instant::now();
    let (b, reports) = crate::engine::bisect::run(&p, builds, &mut |_| {}).await;
    let iterations = reports.iter().flat_map(|r| &r.runs).map(|r| r.iterations.len() as u32).sum();
    Ok(Bisect {
        builds: builds.len(),
        probes: b.probes.len(),
        iterations,
        secs: began.elapsed().as_secs_f64(),
        answer: b.answer,
    })
}
