//! A run's final verdicts as one JSON object (`cargo xtask rig --json`): what the terminal's
//! table says, for a script to read instead. `report.json` keeps everything; this is the
//! answer: the exit code, each case × CPU × image's verdict and counts, each comparison's
//! conclusions, the bisection.

use serde::Serialize;

use crate::report::table::{VerdictCell, verdict_cell};
use crate::results::{Outcome, RunReport, Verdict};

/// The verdicts of a run.
#[derive(Debug, Serialize)]
pub struct Verdicts<'a> {
    /// The process's exit code (as `--help` lists them).
    pub exit_code: i32,
    /// The seed of the run's random choices.
    pub seed: u64,
    /// The run directory, with `report.json` and the page.
    pub run_dir: &'a str,
    /// Why the run stopped early (interrupted, its deadline), when it did.
    pub stopped_early: Option<String>,
    /// One per case × CPU model × image.
    pub runs: Vec<RunVerdict<'a>>,
    /// One per comparison of builds.
    pub comparisons: Vec<ComparisonVerdict<'a>>,
    /// A bisection's result, as in `report.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bisection: Option<&'a crate::results::bisection::Bisection>,
}

/// The verdict of one case × CPU model × image.
#[derive(Debug, Serialize)]
pub struct RunVerdict<'a> {
    /// The case.
    pub case: &'a str,
    /// The CPU model.
    pub cpu: &'a str,
    /// The image.
    pub image: &'a str,
    /// `pass`, `fail`, `error`, `skipped`, `compared` (a build judged by its comparison),
    /// `interrupted` or `stopped` (cut short before its iterations ran).
    pub verdict: &'static str,
    /// Why, where the verdict has a reason: what kept it from running, how far it got.
    pub why: Option<String>,
    /// Iterations run.
    pub ran: u32,
    /// Iterations that passed, failed, and could not be judged (infrastructure).
    pub pass: u32,
    /// See `pass`.
    pub fail: u32,
    /// See `pass`.
    pub error: u32,
    /// Panics and hangs among them.
    pub panics: u32,
    /// See `panics`.
    pub hangs: u32,
    /// Each crash title seen, with its count.
    pub titles: &'a [(String, u32)],
}

/// What a comparison concluded of each candidate.
#[derive(Debug, Serialize)]
pub struct ComparisonVerdict<'a> {
    /// The case.
    pub case: &'a str,
    /// The CPU model.
    pub cpu: &'a str,
    /// The signature counted as a hit.
    pub hunts: &'a str,
    /// The reference build.
    pub reference: Option<&'a str>,
    /// One per candidate.
    pub conclusions: &'a [crate::results::comparison::Conclusion],
}

/// The verdicts of `r`, which exits `exit_code`.
pub fn of(r: &RunReport, exit_code: i32) -> Verdicts<'_> {
    let runs = r
        .runs
        .iter()
        .map(|run| {
            let (verdict, why) = match verdict_cell(r, run) {
                VerdictCell::NotRun(o @ Outcome::Skipped { .. }) => ("skipped", Some(crate::report::junit::detail(o))),
                VerdictCell::NotRun(o) => ("error", Some(crate::report::junit::detail(o))),
                c @ VerdictCell::CutShort { word, .. } => {
                    (if word == "INTERRUPTED" { "interrupted" } else { "stopped" }, Some(c.to_string()))
                }
                VerdictCell::Compared => ("compared", None),
                VerdictCell::Judged(v) => (word(v), None),
            };
            let t = &run.tally;
            RunVerdict {
                case: &run.case,
                cpu: &run.cpu,
                image: &run.image,
                verdict,
                why,
                ran: t.ran,
                pass: t.pass,
                fail: t.fail,
                error: t.error,
                panics: t.panics,
                hangs: t.hangs,
                titles: &t.titles,
            }
        })
        .collect();
    let comparisons = r
        .comparisons
        .iter()
        .map(|c| ComparisonVerdict {
            case: &c.case,
            cpu: &c.cpu,
            hunts: &c.hunts,
            reference: c.builds.first().map(|b| b.image.as_str()),
            conclusions: &c.conclusions,
        })
        .collect();
    Verdicts {
        exit_code,
        seed: r.seed,
        run_dir: &r.run_dir,
        stopped_early: r.stopped_early.as_ref().map(ToString::to_string),
        runs,
        comparisons,
        bisection: r.bisection.as_ref(),
    }
}

/// The verdicts of `r` as pretty JSON, ending in a newline.
pub fn render(r: &RunReport, exit_code: i32) -> String {
    serde_json::to_string_pretty(&of(r, exit_code)).unwrap_or_default() + "\n"
}

fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(runs: serde_json::Value, comparisons: serde_json::Value) -> RunReport {
        serde_json::from_value(serde_json::json!({"schema": 1, "accel": "tcg", "seed": 9, "run_dir": "/r",
            "shard": null, "stopped_early": null, "runs": runs, "comparisons": comparisons}))
        .unwrap()
    }

    fn run(case: &str, not_run: serde_json::Value, verdict: &str, outcome: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"case": case, "file": "c.yaml", "cpu": "epyc", "image": "linux", "iterations_planned": 1,
            "assigned": [1], "hunts": null, "compared": false, "stopped": null, "not_run": not_run,
            "iterations": if not_run.is_null() { serde_json::json!([{"index": 1, "outcome": outcome,
                "verdict": verdict, "secs": 1.0, "seed": 1, "evidence": "e", "steps": []}]) } else { serde_json::json!([]) },
            "tally": {"ran": 1, "pass": u32::from(verdict == "pass"), "fail": u32::from(verdict == "fail"),
                "error": 0, "skipped": 0, "panics": 1, "hangs": 0, "panic_rate": 1.0, "titles": [["BUG: x", 1]]}})
    }

    #[test]
    fn each_run_says_its_verdict_and_why_it_did_not_run() {
        let r = report(
            serde_json::json!([
                run("a", serde_json::Value::Null, "fail", serde_json::json!({"kind": "completed"})),
                run(
                    "b",
                    serde_json::json!({"kind": "skipped", "reason": "needs KVM"}),
                    "pass",
                    serde_json::Value::Null
                ),
            ]),
            serde_json::json!([]),
        );
        let v: serde_json::Value = serde_json::from_str(&render(&r, 1)).unwrap();
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["seed"], 9);
        assert_eq!(v["runs"][0]["verdict"], "fail");
        assert_eq!(v["runs"][0]["titles"][0], serde_json::json!(["BUG: x", 1]));
        assert_eq!(v["runs"][1]["verdict"], "skipped");
        assert!(v["runs"][1]["why"].as_str().unwrap().contains("needs KVM"), "{v}");
        assert!(v.get("bisection").is_none(), "{v}");
    }
}
