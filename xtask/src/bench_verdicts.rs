//! `cargo xtask bench verdicts`: how soon comparisons decide, sequential against fixed counts,
//! and what a bisection over the OS-7410 fixture series costs.

use anyhow::{Context, Result};
use rig::host::AccelChoice;

use crate::paths;

/// The fixed count `--compare` ran before it became sequential: 10 iterations per build.
const FIXED_BEFORE: u32 = 10;

/// Seeds of the time-to-verdict measurement.
const SEEDS: u64 = 3;

/// Runs the three measurements and writes `build/bench/verdicts.json`.
pub async fn run(accel: AccelChoice) -> Result<()> {
    let out = paths::build_dir().join("bench");
    let setup = rig::setup::prepare(&paths::build_dir(), "linux", accel).await?;
    let cases = paths::workspace().join("testcases");
    let find = |name: &str| rig::case::find(&cases, name).map_err(anyhow::Error::msg);
    let dir = rig::rundir::create(&out, "verdicts")?;
    let build = paths::build_dir();

    // Three seeds: whether the debug build's first 4 iterations all hit (the early look) is
    // chance, and it decides between 4 and 5-7 iterations per build.
    let mut times = Vec::new();
    for seed in 1..=SEEDS {
        let case = find("os-7410-miniature")?;
        let t = rig::bench::verdicts::time_to_fixed(case, setup.accel, FIXED_BEFORE, seed, &build, &dir).await?;
        outln!(
            "time to a verdict on os-7410-miniature ({}, seed {seed}): sequential {:.0}s ({} iterations per build) against {FIXED_BEFORE}+{FIXED_BEFORE} fixed {:.0}s: {:.0}%\n  sequential: {}",
            setup.accel.as_str(),
            t.sequential.secs,
            t.sequential.iterations.iter().map(u32::to_string).collect::<Vec<_>>().join("+"),
            t.fixed.secs,
            t.ratio * 100.0,
            t.sequential.conclusion
        );
        times.push(t);
    }
    let mut ratios: Vec<f64> = times.iter().map(|t| t.ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    outln!("time to a verdict, median of {SEEDS} seeds: {:.0}% of the fixed 10+10 (target <= 50%)", median * 100.0);

    let r = rig::bench::verdicts::rare(find("os-7410-rare")?, setup.accel, &build, &dir.join("rare")).await?;
    outln!(
        "rare race (os-7410-rare, reference rate {:.1}%): sequential decided after {} iterations per build in {:.0}s; a fixed count with the same alpha and beta needs {} per build; the sequential method expects {} at that rate\n  {}",
        r.reference_rate * 100.0,
        r.sequential.iterations.iter().map(u32::to_string).collect::<Vec<_>>().join("+"),
        r.sequential.secs,
        r.fixed_count.map_or("(no hit: no rate)".into(), |n| n.to_string()),
        r.expected_sequential.map_or("-".into(), |e| format!("{e:.0}")),
        r.sequential.conclusion
    );

    let series = rig::image::recipe::OS7410_SERIES;
    let builds: Vec<String> = series.builds.iter().map(|b| b.to_string()).collect();
    let b = rig::bench::verdicts::bisect(find(series.case)?, &builds, setup.accel, &build, &dir.join("bisect"))
        .await
        .context("bisection over the series")?;
    outln!(
        "bisection over {} builds (first bad: {}): {} probes, {} iterations, {:.0}s\n  {}",
        b.builds,
        series.first_bad,
        b.probes,
        b.iterations,
        b.secs,
        b.answer
    );
    let json =
        serde_json::json!({ "time_to_fixed": times, "time_to_fixed_median_ratio": median, "rare": r, "bisect": b });
    std::fs::write(out.join("verdicts.json"), serde_json::to_vec_pretty(&json)?)?;
    Ok(())
}
