//! Test fixtures: an iteration, a run of a case × CPU × image and a run report, with plain
//! values a test changes where it cares (test builds only).

use super::model::{CaseRun, IterationResult, Mode, RunReport, SCHEMA};
use super::{Outcome, Verdict};

/// A panic titled `title`, with no crash report, excerpt, dumps or triage.
pub fn panic(title: &str) -> Outcome {
    Outcome::Panic {
        report: None,
        title: title.into(),
        excerpt: String::new(),
        dumps: Vec::new(),
        triage: String::new(),
    }
}

/// Iteration `index` with `outcome`: a pass when it completed, a failure when it panicked,
/// else an error; 1 s, seeded with its index, no evidence.
pub fn iteration(index: u32, outcome: Outcome) -> IterationResult {
    let verdict = match outcome {
        Outcome::Completed => Verdict::Pass,
        Outcome::Panic { .. } => Verdict::Fail,
        _ => Verdict::Error,
    };
    IterationResult {
        index,
        outcome,
        verdict,
        secs: 1.0,
        seed: u64::from(index),
        evidence: String::new(),
        steps: Vec::new(),
        reloads: Default::default(),
    }
}

/// Iterations 1, 2, ...: a panic titled `title` where `panics` says, else completed.
pub fn iterations(panics: &[bool], title: &str) -> Vec<IterationResult> {
    (1..).zip(panics).map(|(i, &p)| iteration(i, if p { panic(title) } else { Outcome::Completed })).collect()
}

/// Case `c` (file `c.yaml`) on `epyc` with `image`: these iterations, as many planned and
/// assigned, counted; not compared, not sequential.
pub fn case_run(image: &str, iterations: Vec<IterationResult>) -> CaseRun {
    let mut r = CaseRun {
        case: "c".into(),
        file: "c.yaml".into(),
        cpu: "epyc".into(),
        image: image.into(),
        iterations_planned: iterations.len() as u32,
        assigned: iterations.iter().map(|i| i.index).collect(),
        hunts: None,
        compared: false,
        sequential: false,
        mode: Mode::Boot,
        stopped: None,
        not_run: None,
        iterations,
        tally: Default::default(),
    };
    r.retally();
    r
}

/// A finished run of `runs` under TCG with seed 1, no comparisons, nothing stopped early.
pub fn report(runs: Vec<CaseRun>) -> RunReport {
    RunReport {
        schema: SCHEMA,
        accel: "tcg".into(),
        seed: 1,
        run_dir: String::new(),
        shard: None,
        stopped_early: None,
        finished: true,
        evidence_errors: Vec::new(),
        runs,
        comparisons: Vec::new(),
        bisection: None,
        provenance: Default::default(),
    }
}
