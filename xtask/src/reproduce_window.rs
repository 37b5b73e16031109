//! `reproduce --search-window N`: the chosen case's first `explore:` timing, searched in
//! batches of `rig` runs of the case narrowed to one sub-range, the sub-range of each batch
//! chosen by top-two Thompson sampling (`rig::reproduce::window`).

use std::path::Path;

use anyhow::Result;
use rig::reproduce::window::{self, Thompson};

use crate::exit;
use crate::reproduce_cmd::ReproduceArgs;

/// Iterations per batch: one `rig` run of a narrowed case.
const BATCH: u32 = 2;

/// Runs the search with `budget` iterations; returns the exit code (0 when the best sub-range
/// hit, 1 when no sub-range did, 2 when the case marks nothing to search, 3 and 130 as `rig`).
pub async fn search(
    a: &ReproduceArgs,
    case_file: &Path,
    image: &str,
    budget: u32,
    run_dir: &Path,
    interrupt: std::sync::Arc<tokio::sync::Notify>,
) -> Result<i32> {
    let case = match rig::case::load(case_file) {
        Ok(c) => c.case,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let Some(knob) = window::knobs(&case).into_iter().next() else {
        eprintln!(
            "error: --search-window: the case '{}' marks no timing `explore:` (see testcases/README.md)",
            case.name
        );
        return Ok(exit::USAGE);
    };
    let subs = knob.sub_ranges();
    outln!(
        "\nwindow search: {} ({}..{} ms in the case) over {}..{} ms in {} sub-ranges, {budget} iterations in batches of {BATCH}",
        knob.path,
        knob.range.min_ms,
        knob.range.max_ms,
        knob.bounds.min_ms,
        knob.bounds.max_ms,
        subs.len()
    );
    let mut ts = Thompson::new(subs.len(), a.seed.unwrap_or(1));
    for k in 0..budget.div_ceil(BATCH) {
        let arm = ts.choose();
        let Some(yaml) = window::narrowed_yaml(&case, &knob.path, subs[arm]) else {
            anyhow::bail!("{} vanished from the case", knob.path);
        };
        let file = run_dir.join(format!("batch-{k}-{}-{}ms.yaml", subs[arm].min_ms, subs[arm].max_ms));
        std::fs::write(&file, yaml)?;
        let dir = run_dir.join(format!("batch-{k}"));
        let mode = ["--image".to_string(), image.to_string(), "--iterations".into(), BATCH.to_string()];
        let args = crate::reproduce_cmd::rig_with(a, &file, &dir, &mode);
        let code = crate::rig_cmd::run(&args, interrupt.clone()).await?;
        if ![0, 1].contains(&code) {
            return Ok(code);
        }
        let (hits, ran) = rig::reproduce::judge(&crate::reproduce_cmd::rig_report(&dir)?).counts();
        for i in 0..ran {
            ts.record(arm, i < hits);
        }
    }
    outln!("\nwindow search over {}:", knob.path);
    for (i, (r, arm)) in subs.iter().zip(ts.arms()).enumerate() {
        let (lo, hi) = rig::stats::wilson(arm.hits, arm.tries);
        let ci = format!("{:.1}-{:.1}%", 100.0 * lo, 100.0 * hi);
        let mark = if i == ts.best() { "  <- best" } else { "" };
        let line = format!(
            "  {:>6}..{:<6} ms  {:>3}/{:<3} hits  95% CI {ci:<12}{mark}",
            r.min_ms, r.max_ms, arm.hits, arm.tries
        );
        outln!("{}", line.trim_end());
    }
    let best = ts.best();
    let error = ts.error(4000);
    let yaml = window::narrowed_yaml(&case, &knob.path, subs[best]).unwrap_or_default();
    let file = run_dir.join(format!("{}-window.yaml", rig::rundir::sanitize(&case.name)));
    std::fs::write(&file, yaml)?;
    outln!(
        "best: {}..{} ms (the chance another sub-range is better, posterior: {:.0}%); narrowed case: {}",
        subs[best].min_ms,
        subs[best].max_ms,
        100.0 * error,
        file.display()
    );
    Ok(if ts.arms()[best].hits > 0 { exit::OK } else { 1 })
}
