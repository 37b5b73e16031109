//! `cargo xtask bench`: the speed figures, measured on this machine in one run, as ratios
//! against baselines. Results are printed and written to `build/bench/<name>.json`. One file
//! per benchmark; each measures through the rig library's public API and prints its figures.

mod boot;
mod crash;
mod dumps;
mod engine;
mod scale;
mod stats;
mod syzkaller;
mod verdicts;

use std::path::Path;

use anyhow::Result;
use clap::{Args, ValueEnum};
use rig::case::LoadedCase;
use rig::engine::campaign::Plan;
use rig::host::AccelChoice;
use rig::machine::{Accel, cpu};

use crate::choices::AccelArg;
use crate::paths;

/// Arguments of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmarks.
    #[arg(value_enum, default_value = "all")]
    pub which: BenchName,
    /// Boots per side for the boot benchmark (the median is reported), 1 to 100.
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100))]
    pub runs: usize,
    /// Iterations of the engine benchmark (default 10), the snapshot one (each way, default 6)
    /// and the parallel one (per guest count, default 8): 2 to 10000 (the first is a warm-up).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub iterations: Option<u32>,
    /// Accelerator, as for `rig`.
    #[arg(long, value_enum, ignore_case = true, default_value = "auto")]
    pub accel: AccelArg,
}

/// A benchmark, or all of them.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchName {
    /// Rig vs bare QEMU to SSH-ready.
    Boot,
    /// Race iterations per minute and the engine's overhead per iteration.
    Engine,
    /// Panic to dump start, dump times.
    Dumps,
    /// Restore against reboot iterations.
    Snapshot,
    /// Throughput with 1..N guests, rig memory.
    Parallel,
    /// Crash reader throughput.
    Crash,
    /// Sequential comparisons against fixed counts, bisection over the OS-7410 series.
    Verdicts,
    /// Every one of them.
    All,
}

impl BenchName {
    /// This choice runs `bench`.
    fn runs(self, bench: BenchName) -> bool {
        self == bench || self == BenchName::All
    }
}

/// Runs the benchmarks; returns the exit code.
pub async fn run(a: &BenchArgs) -> Result<i32> {
    let accel: AccelChoice = a.accel.into();
    let out = paths::build_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    if a.which.runs(BenchName::Boot) {
        boot::run(accel, a.runs, &out).await?;
    }
    if a.which.runs(BenchName::Engine) {
        engine::run(accel, a.iterations.unwrap_or(10), &out).await?;
    }
    if a.which.runs(BenchName::Dumps) {
        dumps::run(accel, &out).await?;
    }
    if a.which.runs(BenchName::Snapshot) {
        scale::run_snapshot(accel, a.iterations.unwrap_or(6), &out).await?;
    }
    if a.which.runs(BenchName::Parallel) {
        scale::run_parallel(accel, a.iterations.unwrap_or(8), &out).await?;
    }
    if a.which.runs(BenchName::Crash) {
        crash::run()?;
    }
    if a.which.runs(BenchName::Verdicts) {
        verdicts::run(accel, &out).await?;
    }
    Ok(crate::exit::OK)
}

/// The default Linux guest's set-up (image built, accelerator resolved).
async fn setup(accel: AccelChoice) -> Result<rig::setup::Setup> {
    rig::setup::prepare(&paths::build_dir(), &rig::guest_os::default_image(), accel).await
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: super::BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<super::BenchArgs, String> {
        T::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|t| t.a).map_err(|e| e.to_string())
    }

    #[test]
    fn counts_are_bounded_where_they_are_parsed() {
        let a = parse(&["boot", "--runs", "100", "--iterations", "10000"]).unwrap();
        assert_eq!((a.runs, a.iterations), (100, Some(10_000)));
        for bad in [["--runs", "0"], ["--runs", "101"], ["--iterations", "1"], ["--iterations", "4294967295"]] {
            let e = parse(&bad).unwrap_err();
            assert!(e.contains("is not in") && e.contains(bad[0]), "{bad:?}: {e}");
        }
    }
}
