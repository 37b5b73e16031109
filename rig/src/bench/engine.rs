//! Engine overhead: runs `kvm-reload-reboot-race` and compares each iteration's time with
//! what the guest itself needed: the jitter sleep plus the reboot (reboot request to the new
//! boot's ready marker, from console timestamps). The rest is the engine's.

use std::path::Path;

use anyhow::{Context, Result};

use crate::case::LoadedCase;
use crate::engine::campaign::{self, Plan};
use crate::machine::{Accel, cpu};

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

/// Runs the race case `iterations` times on one guest and measures.
pub async fn run(
    case: LoadedCase,
    accel: Accel,
    iterations: u32,
    build_dir: &Path,
    run_dir: &Path,
) -> Result<EngineBench> {
    let plan = Plan {
        iterations: Some(iterations),
        ..Plan::new(
            vec![case],
            vec![cpu::lookup("epyc").expect("epyc")],
            accel,
            build_dir.to_path_buf(),
            run_dir.to_path_buf(),
        )
    };
    let report = campaign::run(&plan, &mut |_| {}).await;
    let run = report.runs.first().context("no run")?;
    let (mut its, mut reboots, mut sleeps) = (Vec::new(), Vec::new(), Vec::new());
    for it in &run.iterations {
        let Some(boot) = it.steps.iter().find_map(|s| s.boot.clone()) else { continue };
        let slept: f64 = it
            .steps
            .iter()
            .filter_map(|s| {
                s.result.strip_prefix("slept ").and_then(|r| r.strip_suffix(" ms")).and_then(|n| n.parse::<f64>().ok())
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
