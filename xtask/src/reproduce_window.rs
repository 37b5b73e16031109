//! `reproduce --search-window N`: the chosen case's first `explore:` timing, searched in
//! levels (`rig::reproduce::narrowing`), each level N iterations in batches of `rig` runs of the
//! case narrowed to one sub-range, chosen by top-two Thompson sampling
//! (`rig::reproduce::window`), the next level inside the best sub-range until the rate stops
//! rising. The case as it is runs 2N iterations too, so the window's rate stands against the
//! original ranges' rate measured in the same run.

use std::path::Path;

use anyhow::Result;
use rig::case::model::Jitter;
use rig::reproduce::narrowing::{self, Level};
use rig::reproduce::story::{Rate, Window};
use rig::reproduce::window::{self, Arm, Knob, Thompson};
use rig::results::model::RunReport;

use crate::exit;
use crate::reproduce_cmd::ReproduceArgs;

/// Iterations per batch: one `rig` run of a narrowed case.
const BATCH: u32 = 2;

/// The case as it is runs this many times a level's iterations (in one `rig` run, one boot,
/// so they cost little beside the batches' boots): its rate is the one the window's is set
/// against, and a rare race needs the iterations to show at all.
const ORIGINAL: u32 = 2;

/// What a search found.
pub struct Found {
    /// The exit code: 0 when the window hit, 1 when nothing did, 2 when the case marks nothing
    /// to search, 3 and 130 as `rig`.
    pub code: i32,
    /// The window found (with the case narrowed to it), when one was.
    pub window: Option<Window>,
}

impl Found {
    fn code(code: i32) -> Found {
        Found { code, window: None }
    }
}

/// Runs the search with `per_level` iterations per level (and twice as many for the case as it is).
pub async fn search(
    a: &ReproduceArgs,
    case_file: &Path,
    image: &str,
    per_level: u32,
    run_dir: &Path,
    interrupt: std::sync::Arc<tokio::sync::Notify>,
) -> Result<Found> {
    let case = match rig::case::load(case_file) {
        Ok(c) => c.case,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Found::code(exit::USAGE));
        }
    };
    let Some(knob) = window::knobs(&case).into_iter().next() else {
        eprintln!(
            "error: --search-window: the case '{}' marks no timing `explore:` (see testcases/README.md)",
            case.name
        );
        return Ok(Found::code(exit::USAGE));
    };
    let runner = Runner { a, image, run_dir, interrupt };
    let step = window::top_level_sleep(&knob.path);
    let how = match step {
        Some(_) => "one run a level, each iteration counted in the sub-range it slept in".to_string(),
        None => format!("in batches of {BATCH} chosen by Thompson sampling"),
    };
    outln!(
        "\nwindow search: {} ({}..{} ms in the case) over {}..{} ms, {} sub-ranges a level, {per_level} iterations a \
         level ({how}), up to {} levels, and {} of the case as it is",
        knob.path,
        knob.range.min_ms,
        knob.range.max_ms,
        knob.bounds.min_ms,
        knob.bounds.max_ms,
        knob.bounds.split,
        narrowing::MAX_LEVELS,
        ORIGINAL * per_level
    );
    let original_run = match runner.run(case_file, "original", ORIGINAL * per_level).await? {
        Ok(r) => r,
        Err(code) => return Ok(Found::code(code)),
    };
    let original = counted(&original_run);
    outln!("the case as it is ({}..{} ms): {}", knob.range.min_ms, knob.range.max_ms, counts(original));
    // A sleep of the iteration's own steps is recorded per iteration: a level is then one run
    // over the level's bounds, each iteration counted in the sub-range it slept in (one boot a
    // level); other timings run in batches, one sub-range each, chosen by Thompson sampling.
    let as_is = (knob.range.min_ms, knob.range.max_ms) == (knob.bounds.min_ms, knob.bounds.max_ms);
    let mut levels: Vec<Level> = Vec::new();
    let mut bounds = knob.bounds;
    let why = loop {
        let subs = window::sub_ranges(bounds);
        let mut ts = Thompson::new(subs.len(), a.seed.unwrap_or(1).wrapping_add(levels.len() as u64));
        let n = levels.len() + 1;
        if let Some(step) = step {
            let report = if n == 1 && as_is {
                original_run.clone()
            } else {
                let whole = Jitter::new(bounds.min_ms, bounds.max_ms);
                let Some(yaml) = window::narrowed_yaml(&case, &knob.path, whole) else {
                    anyhow::bail!("{} vanished from the case", knob.path);
                };
                let name = format!("level{n}-{}-{}ms", bounds.min_ms, bounds.max_ms);
                let file = run_dir.join(format!("{name}.yaml"));
                std::fs::write(&file, yaml)?;
                match runner.run(&file, &name, per_level).await? {
                    Ok(r) => r,
                    Err(code) => return Ok(Found::code(code)),
                }
            };
            let arms = window::binned(&report, step, &subs).unwrap_or_else(|| vec![Arm::default(); subs.len()]);
            for (i, arm) in arms.iter().enumerate() {
                (0..arm.tries).for_each(|k| ts.record(i, k < arm.hits));
            }
        } else {
            for k in 0..per_level.div_ceil(BATCH) {
                let arm = ts.choose();
                let r = subs[arm];
                let Some(yaml) = window::narrowed_yaml(&case, &knob.path, r) else {
                    anyhow::bail!("{} vanished from the case", knob.path);
                };
                let name = format!("level{n}-batch{k}-{}-{}ms", r.min_ms, r.max_ms);
                let file = run_dir.join(format!("{name}.yaml"));
                std::fs::write(&file, yaml)?;
                let got = match runner.run(&file, &name, BATCH).await? {
                    Ok(r) => counted(&r),
                    Err(code) => return Ok(Found::code(code)),
                };
                (0..got.tries).for_each(|i| ts.record(arm, i < got.hits));
            }
        }
        levels.push(narrowing::level(bounds, subs, &mut ts));
        show_level(&knob, &levels[levels.len() - 1], levels.len());
        if let Some(why) = narrowing::stop(&levels) {
            break why;
        }
        let last = &levels[levels.len() - 1];
        bounds = narrowing::inside(last.window(), bounds.split).unwrap_or(bounds);
    };
    let Some(best) = narrowing::found(&levels) else { return Ok(Found::code(1)) };
    let (w, arm) = (best.window(), best.best_arm());
    let Some(yaml) = window::window_yaml(&case, &knob.path, w) else {
        anyhow::bail!("{} vanished from the case", knob.path);
    };
    let file = run_dir.join(format!("{}-window.yaml", rig::rundir::sanitize(&case.name)));
    std::fs::write(&file, yaml)?;
    outln!("\nnarrowing stopped: {}", stopped(why));
    if arm.hits == 0 {
        outln!("no window: no sub-range hit; the case as it is: {}", counts(original));
        return Ok(Found::code(1));
    }
    outln!(
        "window: {}..{} ms at {}: {}, against {} for the case as it is ({}){}",
        w.min_ms,
        w.max_ms,
        knob.path,
        counts(arm),
        counts(original),
        ratio(arm, original),
        ", both measured in this run"
    );
    outln!("narrowed case: {}", file.display());
    let window = Window {
        timing: knob.path.clone(),
        min_ms: w.min_ms,
        max_ms: w.max_ms,
        rate: Rate::new(arm.hits, arm.tries),
        original: Rate::new(original.hits, original.tries),
        narrowed_case: file.display().to_string(),
    };
    Ok(Found { code: exit::OK, window: Some(window) })
}

/// Runs `rig` batches of one case file.
struct Runner<'a> {
    a: &'a ReproduceArgs,
    image: &'a str,
    run_dir: &'a Path,
    interrupt: std::sync::Arc<tokio::sync::Notify>,
}

impl Runner<'_> {
    /// `iterations` of `file` in `run_dir/name/`: its report, or `rig`'s exit code when it
    /// failed.
    async fn run(&self, file: &Path, name: &str, iterations: u32) -> Result<Result<RunReport, i32>> {
        let dir = self.run_dir.join(name);
        let mode = ["--image".to_string(), self.image.to_string(), "--iterations".into(), iterations.to_string()];
        let args = crate::reproduce_cmd::rig_with(self.a, file, &dir, &mode);
        let code = crate::rig_cmd::run(&args, self.interrupt.clone()).await?;
        if ![0, 1].contains(&code) {
            return Ok(Err(code));
        }
        Ok(Ok(crate::reproduce_cmd::rig_report(&dir)?))
    }
}

/// A run's hits and iterations.
fn counted(report: &RunReport) -> Arm {
    let (hits, tries) = rig::reproduce::judge(report).counts();
    Arm { hits, tries }
}

fn show_level(knob: &Knob, level: &Level, n: usize) {
    outln!("\nwindow search over {}, level {n} ({}..{} ms):", knob.path, level.bounds.min_ms, level.bounds.max_ms);
    for (i, (r, arm)) in level.subs.iter().zip(&level.arms).enumerate() {
        let (lo, hi) = rig::stats::wilson(arm.hits, arm.tries);
        let ci = format!("{:.1}-{:.1}%", 100.0 * lo, 100.0 * hi);
        let mark = if i == level.best { "  <- best" } else { "" };
        let line = format!(
            "  {:>6}..{:<6} ms  {:>3}/{:<3} hits  95% CI {ci:<12}{mark}",
            r.min_ms, r.max_ms, arm.hits, arm.tries
        );
        outln!("{}", line.trim_end());
    }
    let w = level.window();
    outln!(
        "best: {}..{} ms (the chance another sub-range is better, posterior: {:.0}%)",
        w.min_ms,
        w.max_ms,
        100.0 * level.error
    );
}

/// `H/N hits, R% (95% CI lo-hi%)`.
fn counts(arm: Arm) -> String {
    Rate::new(arm.hits, arm.tries).to_string()
}

/// How many times the window's rate is the original's.
fn ratio(window: Arm, original: Arm) -> String {
    if original.hits == 0 {
        return "the case as it is hit nothing".into();
    }
    format!("{:.1} times its rate", window.rate() / original.rate())
}

fn stopped(why: narrowing::Stop) -> &'static str {
    match why {
        narrowing::Stop::NoHit => "the last level's best sub-range hit nothing",
        narrowing::Stop::StoppedRising => "the rate stopped rising",
        narrowing::Stop::TooNarrow => "the best sub-range is too narrow to split again",
        narrowing::Stop::Levels => "the most levels ran",
    }
}
