//! Scale figures: a snapshot-restore iteration against a reboot iteration on the same guest,
//! iteration throughput with 1..N parallel guests, and the rig's own memory.

use std::path::Path;

use anyhow::{Context, Result};
use tokio::time::Instant;

use crate::case::LoadedCase;
use crate::engine::campaign::{self, Plan};
use crate::machine::{Accel, cpu};

/// Snapshot-restore against reboot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotBench {
    /// Median seconds of an iteration that restores the snapshot.
    pub restore_iteration_secs: f64,
    /// Median seconds of an iteration that reboots instead.
    pub reboot_iteration_secs: f64,
    /// restore / reboot, in percent.
    pub ratio_pct: f64,
}

/// Parallel throughput.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParallelBench {
    /// (guests, iterations per minute) for 1..=max guests.
    pub curve: Vec<(usize, f64)>,
    /// Throughput with the most guests over throughput with one.
    pub speedup: f64,
    /// The rig's peak resident memory over the run, MiB.
    pub rig_peak_mib: f64,
}

fn case(text: &str) -> Result<LoadedCase> {
    let c = crate::case::parse(text).map_err(|(l, c, m)| anyhow::anyhow!("{l}:{c}: {m}"))?;
    Ok(LoadedCase { case: c, file: "(bench)".into() })
}

fn plan(c: LoadedCase, accel: Accel, iterations: u32, jobs: usize, build_dir: &Path, run_dir: &Path) -> Plan {
    Plan {
        iterations: Some(iterations),
        seed: 3,
        jobs,
        ..Plan::new(
            vec![c],
            vec![cpu::lookup("epyc").expect("epyc")],
            accel,
            build_dir.to_path_buf(),
            run_dir.to_path_buf(),
        )
    }
}

/// Iteration seconds (median) of a campaign, skipping the first iteration of each guest.
async fn iteration_median(p: &Plan) -> Result<f64> {
    let r = campaign::run(p, &mut |_| {}).await;
    let run = r.runs.first().context("no run")?;
    anyhow::ensure!(
        run.tally.pass == run.tally.ran && run.tally.ran > 0,
        "bench iterations failed; see {}",
        p.run_dir.display()
    );
    let secs: Vec<f64> = run.iterations.iter().skip(1).map(|i| i.secs).collect();
    Ok(super::stats::median(&secs))
}

/// Restore-then-work against reboot-then-work, `iterations` each, on one guest.
pub async fn snapshot(accel: Accel, iterations: u32, build_dir: &Path, dir: &Path) -> Result<SnapshotBench> {
    let work = "  - ssh: cat /proc/sys/kernel/random/boot_id\n";
    let restore = case(&format!("name: bench-restore\nsnapshot: true\nsteps:\n{work}"))?;
    let reboot = case(&format!("name: bench-reboot\nsteps:\n  - reboot: ssh\n{work}"))?;
    let r = iteration_median(&plan(restore, accel, iterations, 1, build_dir, &dir.join("restore"))).await?;
    let b = iteration_median(&plan(reboot, accel, iterations, 1, build_dir, &dir.join("reboot"))).await?;
    Ok(SnapshotBench { restore_iteration_secs: r, reboot_iteration_secs: b, ratio_pct: r / b * 100.0 })
}

/// Throughput of reboot iterations with 1..=max_jobs guests.
pub async fn parallel(
    accel: Accel,
    iterations: u32,
    max_jobs: usize,
    build_dir: &Path,
    dir: &Path,
) -> Result<ParallelBench> {
    let mut curve = Vec::new();
    for jobs in 1..=max_jobs.max(1) {
        // One vCPU per guest: under TCG a 2-vCPU guest alone keeps two host cores busy.
        let c = case(
            "name: bench-parallel\nguest: { vcpus: 1 }\nsteps:\n  - sleep: { min_ms: 0, max_ms: 500 }\n  - reboot: ssh\n",
        )?;
        let p = plan(c, accel, iterations, jobs, build_dir, &dir.join(format!("jobs-{jobs}")));
        let began = Instant::now();
        let r = campaign::run(&p, &mut |_| {}).await;
        let wall = began.elapsed().as_secs_f64();
        let ran = r.runs.first().map(|x| x.tally.pass).unwrap_or(0);
        anyhow::ensure!(
            ran == iterations,
            "{ran} of {iterations} iterations passed with {jobs} guests; see {}",
            p.run_dir.display()
        );
        curve.push((jobs, f64::from(iterations) / wall * 60.0));
    }
    let speedup = curve.last().map(|c| c.1).unwrap_or(0.0) / curve[0].1;
    Ok(ParallelBench { curve, speedup, rig_peak_mib: peak_rss_mib() })
}

/// The rig process's peak resident memory (VmHWM), MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
