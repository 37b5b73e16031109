//! The run as Markdown, for CI pages: GitHub Actions shows what a step appends to the file
//! `$GITHUB_STEP_SUMMARY` on the run's summary page. The same facts as the text table: the
//! headline and exit code, one row per case × CPU, crash titles, comparisons and where the
//! evidence is. Pure.

use std::fmt::Write as _;

use super::table::{COLUMNS, cells, stop_word};
use crate::results::model::RunReport;

/// A table cell: pipes escaped, one line.
fn cell(s: &str) -> String {
    s.lines().next().unwrap_or("").replace('|', "\\|")
}

/// What the exit code says, in words.
pub fn headline(r: &RunReport) -> String {
    let code = r.exit_code();
    let words = match code {
        0 => "every expectation held".to_string(),
        1 => failed_words(r).to_string(),
        4 => "NOTHING RAN: every case x CPU was skipped".to_string(),
        _ if !r.finished => "UNFINISHED: the run never ended".to_string(),
        _ if r.stopped_early.is_some() => format!("{}: the run stopped early", stop_word(r)),
        _ => "infrastructure failure".to_string(),
    };
    format!("{words} (exit {code})")
}

/// Why a run exits 1, in words: an iteration's expectation failed, else the worst of its
/// comparisons' conclusions (a build not fixed, numbers that cannot tell, a race not run).
fn failed_words(r: &RunReport) -> &'static str {
    use crate::results::comparison::Status;
    if r.runs.iter().any(|run| !run.compared && run.verdict() == crate::results::Verdict::Fail) {
        return "an expectation failed";
    }
    let statuses: Vec<Status> = r.comparisons.iter().flat_map(|c| &c.conclusions).map(|k| k.status).collect();
    if statuses.contains(&Status::NotFixed) {
        "NOT FIXED: a build still hits the bug"
    } else if statuses.contains(&Status::NotExercised) {
        "NOT EXERCISED: a build's iterations did not run the race"
    } else if statuses.contains(&Status::Inconclusive) {
        "INCONCLUSIVE: the numbers cannot tell whether the bug is fixed"
    } else {
        "an expectation failed"
    }
}

/// The Markdown summary of a run.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### rig: {}\n", headline(r));
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    s.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|---|\n");
    for run in &r.runs {
        let row: Vec<String> = cells(r, run).iter().map(|c| cell(c)).collect();
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    let crashes: Vec<String> = r
        .runs
        .iter()
        .flat_map(|run| {
            run.tally
                .titles
                .iter()
                .map(move |(t, n)| format!("- {n} x `{t}` ({} on {}, {})", run.case, run.cpu, run.image))
        })
        .collect();
    if !crashes.is_empty() {
        let _ = writeln!(s, "\n**Crashes**\n\n{}", crashes.join("\n"));
    }
    for c in &r.comparisons {
        let _ = writeln!(s, "\n**{} on {}**, hunting {}\n", c.case, c.cpu, c.hunts);
        for b in &c.builds {
            let _ = writeln!(s, "- `{}`: {}", b.image, b.verdict_line());
        }
        for k in &c.conclusions {
            let _ = writeln!(s, "- **{}**", k.text);
        }
    }
    for e in &r.evidence_errors {
        let _ = writeln!(s, "\n**EVIDENCE LOST**: {e}");
    }
    let _ = writeln!(s, "\nEvidence: `{}` (`report.json`, `junit.xml`, a directory per case)", r.run_dir);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::model::{CaseRun, Tally};

    fn run(case: &str, tally: Tally, not_run: Option<crate::results::Outcome>) -> CaseRun {
        let json = serde_json::json!({
            "case": case, "file": "c.yaml", "cpu": "epyc", "image": "linux", "iterations_planned": 1,
            "assigned": [1], "hunts": null, "compared": false, "stopped": null, "not_run": not_run,
            "iterations": [], "tally": tally,
        });
        serde_json::from_value(json).unwrap()
    }

    fn report(runs: Vec<CaseRun>) -> RunReport {
        let json = serde_json::json!({
            "schema": 1, "accel": "tcg", "seed": 1, "run_dir": "build/runs/x", "shard": null,
            "stopped_early": null, "runs": runs, "comparisons": [],
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_failing_run_says_so_in_its_headline_rows_and_crashes() {
        let pass = Tally { ran: 1, pass: 1, ..Tally::default() };
        let fail =
            Tally { ran: 1, fail: 1, panics: 1, titles: vec![("kernel BUG in f".into(), 1)], ..Tally::default() };
        let md = render(&report(vec![run("boot-smoke", pass, None), run("a|b", fail, None)]));
        assert!(md.starts_with("### rig: an expectation failed (exit 1)\n"), "{md}");
        assert!(md.contains("| boot-smoke | epyc | linux | 1 | 1 | 0 | 0 | 0 | 0 | pass |"), "{md}");
        assert!(md.contains("| a\\|b | epyc | linux | 1 | 0 | 1 | 1 | 0 | 0 | FAIL |"), "pipes are escaped: {md}");
        assert!(md.contains("- 1 x `kernel BUG in f` (a|b on epyc, linux)"), "{md}");
        assert!(md.ends_with("Evidence: `build/runs/x` (`report.json`, `junit.xml`, a directory per case)\n"), "{md}");
    }

    /// A comparison whose numbers cannot tell exits 1 like a failure, but says so in its words.
    #[test]
    fn an_inconclusive_comparison_is_not_a_failed_expectation() {
        let pass = Tally { ran: 1, pass: 1, ..Tally::default() };
        let mut r = report(vec![run("boot-smoke", pass, None)]);
        r.comparisons = serde_json::from_value(serde_json::json!([{
            "case": "c", "cpu": "epyc", "hunts": "kernel BUG in f", "builds": [],
            "conclusions": [{"candidate": "fixed", "status": "inconclusive", "p_value": 0.4, "text": "INCONCLUSIVE"}],
        }]))
        .unwrap();
        assert_eq!(r.exit_code(), 1);
        assert_eq!(headline(&r), "INCONCLUSIVE: the numbers cannot tell whether the bug is fixed (exit 1)");
        r.comparisons[0].conclusions[0].status = crate::results::comparison::Status::NotFixed;
        assert_eq!(headline(&r), "NOT FIXED: a build still hits the bug (exit 1)");
    }

    #[test]
    fn nothing_ran_is_the_headline() {
        let skipped = crate::results::Outcome::Skipped { reason: "needs KVM".into() };
        let md = render(&report(vec![run("boot-smoke", Tally::default(), Some(skipped))]));
        assert!(md.starts_with("### rig: NOTHING RAN: every case x CPU was skipped (exit 4)"), "{md}");
    }
}
