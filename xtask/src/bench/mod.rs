//! `cargo xtask bench`: the speed figures, measured on this machine in one run, as ratios
//! against baselines. Results are printed and written to `build/bench/<name>.json`. One file
//! per benchmark; each measures through the rig library's public API and prints its figures.

mod boot;
mod crash;
mod dumps;
mod engine;
mod scale;
mod stats;
mod verdicts;

use std::path::Path;

use anyhow::Result;
use clap::Args;
use rig::case::LoadedCase;
use rig::engine::campaign::Plan;
use rig::host::AccelChoice;
use rig::machine::{Accel, cpu};

use crate::paths;

/// Arguments of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmarks: `boot` (rig vs bare QEMU to SSH-ready), `engine` (race iterations per
    /// minute and the engine's overhead per iteration), `dumps` (panic to dump start, dump times), `snapshot` (restore against reboot
    /// iterations), `parallel` (throughput with 1..N guests, rig memory), `crash` (crash reader throughput), `verdicts`
    /// (sequential comparisons against fixed counts, bisection over the OS-7410 series), `all`.
    #[arg(default_value = "all")]
    pub which: String,
    /// Boots per side for the boot benchmark (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Iterations of the engine benchmark.
    #[arg(long, default_value_t = 10)]
    pub iterations: u32,
    /// Accelerator, as for `rig`.
    #[arg(long, default_value = "auto")]
    pub accel: String,
}

/// Runs the benchmarks; returns the exit code.
pub async fn run(a: &BenchArgs) -> Result<i32> {
    let known = ["boot", "engine", "dumps", "snapshot", "parallel", "crash", "verdicts", "all"];
    if !known.contains(&a.which.as_str()) {
        eprintln!("error: unknown benchmark '{}'; known: {}", a.which, known.join(", "));
        return Ok(crate::exit::USAGE);
    }
    let accel: AccelChoice = a.accel.parse().map_err(anyhow::Error::msg)?;
    let out = paths::build_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    if matches!(a.which.as_str(), "boot" | "all") {
        boot::run(accel, a.runs, &out).await?;
    }
    if matches!(a.which.as_str(), "engine" | "all") {
        engine::run(accel, a.iterations, &out).await?;
    }
    if matches!(a.which.as_str(), "dumps" | "all") {
        dumps::run(accel, &out).await?;
    }
    if matches!(a.which.as_str(), "snapshot" | "all") {
        scale::run_snapshot(accel, &out).await?;
    }
    if matches!(a.which.as_str(), "parallel" | "all") {
        scale::run_parallel(accel, &out).await?;
    }
    if matches!(a.which.as_str(), "crash" | "all") {
        crash::run()?;
    }
    if matches!(a.which.as_str(), "verdicts" | "all") {
        verdicts::run(accel, &out).await?;
    }
    Ok(crate::exit::OK)
}

/// The default Linux guest's set-up (image built, accelerator resolved).
async fn setup(accel: AccelChoice) -> Result<rig::setup::Setup> {
    rig::setup::prepare(&paths::build_dir(), "linux", accel).await
}

/// A plan for `cases` on the EPYC model, the campaign's defaults otherwise.
fn epyc_plan(cases: Vec<LoadedCase>, accel: Accel, build_dir: &Path, run_dir: &Path) -> Plan {
    let epyc = cpu::lookup("epyc").expect("epyc");
    Plan::new(cases, vec![epyc], accel, build_dir.to_path_buf(), run_dir.to_path_buf())
}

/// Writes `figures` to `<out>/<name>.json`.
fn write_json(out: &Path, name: &str, figures: &impl serde::Serialize) -> Result<()> {
    std::fs::write(out.join(format!("{name}.json")), serde_json::to_vec_pretty(figures)?)?;
    Ok(())
}
