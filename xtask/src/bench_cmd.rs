//! `cargo xtask bench`: the speed figures, measured on this machine in one run, as ratios
//! against baselines. Results are printed and written to `build/bench/<name>.json`.

use anyhow::Result;
use clap::Args;
use rig::host::AccelChoice;

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
        let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
        if let Some(w) = &setup.warning {
            eprintln!("*** WARNING: {w} ***");
        }
        let dir = rig::rundir::create(&out, "boot")?;
        let b = rig::bench::boot::run(&setup.image, setup.accel, a.runs.max(1), &dir).await?;
        outln!(
            "boot to SSH-ready ({}, median of {}): rig {:.2}s, bare QEMU {:.2}s, overhead {:+.1}% (target <= 5%)",
            setup.accel.as_str(),
            b.rig_secs.len(),
            b.rig_median,
            b.bare_median,
            b.overhead_pct
        );
        std::fs::write(out.join("boot.json"), serde_json::to_vec_pretty(&b)?)?;
    }
    if matches!(a.which.as_str(), "engine" | "all") {
        let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
        let case = rig::case::find(&paths::workspace().join("testcases"), "kvm-reload-reboot-race")
            .map_err(anyhow::Error::msg)?;
        let dir = rig::rundir::create(&out, "engine")?;
        let e = rig::bench::engine::run(case, setup.accel, a.iterations, &paths::build_dir(), &dir).await?;
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
        std::fs::write(out.join("engine.json"), serde_json::to_vec_pretty(&e)?)?;
    }
    if matches!(a.which.as_str(), "dumps" | "all") {
        let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
        let dir = rig::rundir::create(&out, "dumps")?;
        let d = rig::dump::bench::bench(&setup.image, setup.accel, &dir, 3).await?;
        outln!(
            "dumps ({} MiB guest, {}): panic to dump start {:.1} ms (target < 100 ms); ELF {:.2}s ({} MiB), kdump-zlib {:.2}s ({} MiB)",
            d.memory_mib,
            setup.accel.as_str(),
            d.panic_to_dump_start_ms,
            d.elf_secs,
            d.elf_bytes >> 20,
            d.kdump_secs,
            d.kdump_bytes >> 20
        );
        std::fs::write(out.join("dumps.json"), serde_json::to_vec_pretty(&d)?)?;
        // The ELF dumps are as big as the guest: keep the figures, not the files.
        let _ = std::fs::remove_dir_all(&dir);
    }
    if matches!(a.which.as_str(), "snapshot" | "all") {
        let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
        let dir = rig::rundir::create(&out, "snapshot")?;
        let s = rig::bench::scale::snapshot(setup.accel, 6, &paths::build_dir(), &dir).await?;
        outln!(
            "snapshot-restore iteration {:.2}s against a reboot iteration {:.2}s on the same guest: {:.0}% (target <= 25%)",
            s.restore_iteration_secs,
            s.reboot_iteration_secs,
            s.ratio_pct
        );
        std::fs::write(out.join("snapshot.json"), serde_json::to_vec_pretty(&s)?)?;
    }
    if matches!(a.which.as_str(), "parallel" | "all") {
        let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
        let dir = rig::rundir::create(&out, "parallel")?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let p = rig::bench::scale::parallel(setup.accel, 8, cores.max(2), &paths::build_dir(), &dir).await?;
        let curve: Vec<String> = p.curve.iter().map(|(j, t)| format!("{j} guest(s) {t:.1}/min")).collect();
        let guests = p.curve.last().map(|c| c.0).unwrap_or(1);
        outln!(
            "parallel reboot iterations (1-vCPU guests, {cores} cores): {}; speedup {:.2}x (target >= 1.6x for 2 guests); rig peak memory {:.1} MiB (target < {} MiB)",
            curve.join(", "),
            p.speedup,
            p.rig_peak_mib,
            50 + 10 * guests
        );
        std::fs::write(out.join("parallel.json"), serde_json::to_vec_pretty(&p)?)?;
    }
    if matches!(a.which.as_str(), "crash" | "all") {
        crate::bench_crash::run()?;
    }
    if matches!(a.which.as_str(), "verdicts" | "all") {
        crate::bench_verdicts::run(accel).await?;
    }
    Ok(crate::exit::OK)
}
