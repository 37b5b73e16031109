//! Engine overhead: runs `kvm-reload-reboot-race` and compares each iteration's time with
//! what the guest itself needed: the jitter sleep plus the reboot (reboot request to the new
//! boot's ready marker, from console timestamps). The rest is the engine's.

use std::path::Path;

use anyhow::{Context, Result};
use rig::case::LoadedCase;
use rig::engine::campaign::{self, Plan};
use rig::host::AccelChoice;
use rig::machine::Accel;
use rig::results::step::StepDetail;

use crate::paths;

/// The measured figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineBench {
    /// Iterations measured.
    pub iterations: usize,
    /// Iterations per minute per guest (steady state: iteration times only).
    pub per_minute: f64,
    /// Mean seconds per iteration.
    pub iteration_secs: f64,
    /// Mean guest reboot time (request to ready marker).
    pub reboot_secs: f64,
    /// Mean jitter slept.
    pub sleep_secs: f64,
    /// Mean engine overhead per iteration.
    pub overhead_secs: f64,
    /// Overhead as a percentage of the reboot time.
    pub overhead_pct: f64,
}

/// Measures `iterations` of the race case, prints the figures and writes `<out>/engine.json`.
pub async fn run(accel: AccelChoice, iterations: u32, out: &Path) -> Result<()> {
    let setup = super::setup(accel).await?;
    let case =
        rig::case::find(&paths::workspace().join("testcases"), "kvm-reload-reboot-race").map_err(anyhow::Error::msg)?;
    let dir = rig::rundir::create(out, "engine")?;
    let e = measure(case, setup.accel, iterations, &paths::build_dir(), &dir).await?;
    outln!(
        "kvm-reload-reboot-race ({}, {} iterations): {:.1} iterations/min; per iteration {:.2}s = reboot {:.2}s + jitter {:.2}s + engine {:.2}s ({:+.1}% of the reboot; target <= 10%)",
        setup.accel.as_str(),
        e.iterations,
        e.per_minute,
        e.iteration_secs,
        e.reboot_secs,
        e.sleep_secs,
        e.overhead_secs,
        e.overhead_pct
    );
    super::write_json(out, "engine", &e)
}

/// Runs the race case `iterations` times on one guest and measures.
async fn measure(
    case: LoadedCase,
    accel: Accel,
    iterations: u32,
    build_dir: &Path,
    run_dir: &Path,
) -> Result<EngineBench> {
    let plan = Plan { iterations: Some(iterations), ..super::epyc_plan(vec![case], accel, build_dir, run_dir) };
    let report = campaign::run(&plan, &mut |_| {}).await;
    let run = report.runs.first().context("no run")?;
    let (mut its, mut reboots, mut sleeps) = (Vec::new(), Vec::new(), Vec::new());
    for it in &run.iterations {
        let Some(boot) = it.steps.iter().find_map(|s| s.boot.clone()) else { continue };
        let slept: f64 = it
            .steps
            .iter()
            .filter_map(|s| match s.detail {
                Some(StepDetail::Slept { ms }) => Some(ms as f64),
                _ => None,
            })
            .sum::<f64>()
            / 1000.0;
        its.push(it.secs);
        reboots.push(boot.ready_secs);
        sleeps.push(slept);
    }
    anyhow::ensure!(!its.is_empty(), "no iteration rebooted; see {}", run_dir.display());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (it, rb, sl) = (mean(&its), mean(&reboots), mean(&sleeps));
    let overhead = it - rb - sl;
    Ok(EngineBench {
        iterations: its.len(),
        per_minute: 60.0 / it,
        iteration_secs: it,
        reboot_secs: rb,
        sleep_secs: sl,
        overhead_secs: overhead,
        overhead_pct: overhead / rb * 100.0,
    })
}
