//! Scale figures: a snapshot-restore iteration against a reboot iteration on the same guest,
//! iteration throughput with 1..N parallel guests, and the rig's own memory.

use std::path::Path;

use anyhow::{Context, Result};
use rig::case::LoadedCase;
use rig::engine::campaign::{self, Plan};
use rig::host::AccelChoice;
use rig::machine::Accel;
use tokio::time::Instant;

use crate::paths;

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

/// Measures `iterations` each way, prints the figures and writes `<out>/snapshot.json`.
pub async fn run_snapshot(accel: AccelChoice, iterations: u32, out: &Path) -> Result<()> {
    let setup = super::setup(accel).await?;
    let dir = rig::rundir::create(out, "snapshot")?;
    let s = snapshot(setup.accel, iterations, &paths::build_dir(), &dir).await?;
    outln!(
        "snapshot-restore iteration {:.2}s against a reboot iteration {:.2}s on the same guest: {:.0}% (target <= 25%)",
        s.restore_iteration_secs,
        s.reboot_iteration_secs,
        s.ratio_pct
    );
    super::write_json(out, "snapshot", &s)
}

/// Measures `iterations` with 1 to (cores, at least 2) guests, prints the figures and writes
/// `<out>/parallel.json`.
pub async fn run_parallel(accel: AccelChoice, iterations: u32, out: &Path) -> Result<()> {
    let setup = super::setup(accel).await?;
    let dir = rig::rundir::create(out, "parallel")?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let p = parallel(setup.accel, iterations, cores.max(2), &paths::build_dir(), &dir).await?;
    let curve: Vec<String> = p.curve.iter().map(|(j, t)| format!("{j} guest(s) {t:.1}/min")).collect();
    let guests = p.curve.last().map(|c| c.0).unwrap_or(1);
    outln!(
        "parallel reboot iterations (1-vCPU guests, {cores} cores): {}; speedup {:.2}x (target >= 1.6x for 2 guests); rig peak memory {:.1} MiB (target < {} MiB)",
        curve.join(", "),
        p.speedup,
        p.rig_peak_mib,
        50 + 10 * guests
    );
    super::write_json(out, "parallel", &p)
}

fn case(text: &str) -> Result<LoadedCase> {
    let c = rig::case::parse(text).map_err(|(l, c, m)| anyhow::anyhow!("{l}:{c}: {m}"))?;
    Ok(LoadedCase { case: c, file: "(bench)".into() })
}

fn plan(c: LoadedCase, accel: Accel, iterations: u32, jobs: usize, build_dir: &Path, run_dir: &Path) -> Plan {
    Plan { iterations: Some(iterations), seed: 3, jobs, ..super::epyc_plan(vec![c], accel, build_dir, run_dir) }
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
async fn snapshot(accel: Accel, iterations: u32, build_dir: &Path, dir: &Path) -> Result<SnapshotBench> {
    let work = "  - ssh: cat /proc/sys/kernel/random/boot_id\n";
    let restore = case(&format!("name: bench-restore\nsnapshot: true\nsteps:\n{work}"))?;
    let reboot = case(&format!("name: bench-reboot\nsteps:\n  - reboot: ssh\n{work}"))?;
    let r = iteration_median(&plan(restore, accel, iterations, 1, build_dir, &dir.join("restore"))).await?;
    let b = iteration_median(&plan(reboot, accel, iterations, 1, build_dir, &dir.join("reboot"))).await?;
    Ok(SnapshotBench { restore_iteration_secs: r, reboot_iteration_secs: b, ratio_pct: r / b * 100.0 })
}

/// Throughput of reboot iterations with 1..=max_jobs guests.
async fn parallel(
    accel: Accel,
    iterations: u32,
    max_jobs: usize,
    build_dir: &Path,
    dir: &Path,
) -> Result<ParallelBench> {
    let mut curve = Vec::new();
    // More guests than iterations would measure nothing new (a small smoke run on a big host).
    let max_jobs = max_jobs.clamp(1, (iterations as usize).max(2));
    for jobs in 1..=max_jobs {
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
fn peak_rss_mib() -> f64 {
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
