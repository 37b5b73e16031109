//! `cargo xtask bench`: the speed figures, measured on this machine in one run, as ratios
//! against baselines. Results are printed and written to `build/bench/<name>.json`.

use anyhow::Result;
use clap::Args;
use rig::host::AccelChoice;

use crate::paths;

/// Arguments of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmarks: `boot` (rig vs bare QEMU to SSH-ready), or `all`.
    #[arg(default_value = "all")]
    pub which: String,
    /// Boots per side for the boot benchmark (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Accelerator, as for `rig`.
    #[arg(long, default_value = "auto")]
    pub accel: String,
}

/// Runs the benchmarks; returns the exit code.
pub async fn run(a: &BenchArgs) -> Result<i32> {
    let known = ["boot", "all"];
    if !known.contains(&a.which.as_str()) {
        eprintln!("error: unknown benchmark '{}'; known: {}", a.which, known.join(", "));
        return Ok(crate::exit::USAGE);
    }
    let accel: AccelChoice = a.accel.parse().map_err(anyhow::Error::msg)?;
    let out = paths::build_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    if matches!(a.which.as_str(), "boot" | "all") {
        let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
        if let Some(w) = &setup.warning {
            eprintln!("*** WARNING: {w} ***");
        }
        let dir = rig::rundir::create(&out, "boot")?;
        let b = rig::bench::boot::run(&setup.image, setup.accel, a.runs.max(1), &dir).await?;
        println!(
            "boot to SSH-ready ({}, median of {}): rig {:.2}s, bare QEMU {:.2}s, overhead {:+.1}% (target <= 5%)",
            setup.accel.as_str(),
            b.rig_secs.len(),
            b.rig_median,
            b.bare_median,
            b.overhead_pct
        );
        std::fs::write(out.join("boot.json"), serde_json::to_vec_pretty(&b)?)?;
    }
    Ok(crate::exit::OK)
}
