//! The command a user would type next, printed as a run's last line, by what the run found.

use rig::results::Outcome;
use rig::results::bisection::{Bisection, End};
use rig::results::model::RunReport;

/// The next command after `report`, run as `command` (the command line that ran it).
pub fn after_run(report: &RunReport, command: &str) -> Option<String> {
    let code = report.exit_code();
    if report.interrupted() {
        return Some(format!("next: the same run again: {command}"));
    }
    if report.nothing_ran() {
        return Some(
            "next: CPU models this host can run: `cargo xtask rig --cpu epyc` (under TCG an AMD model nests; an \
             Intel one needs KVM)"
                .into(),
        );
    }
    let first_panic = report.runs.iter().flat_map(|r| &r.iterations).find_map(|i| match &i.outcome {
        Outcome::Panic { title, .. } => Some(title.as_str()),
        _ => None,
    });
    match (code, first_panic) {
        (1, Some(title)) => Some(format!(
            "next: where else this crash was seen: cargo xtask history --signature {}",
            rig::ssh::shell_quote(title)
        )),
        (1, None) => Some(format!(
            "next: what failed, step by step, is on the page named above; then the same run again: {command}"
        )),
        (3, _) => Some(format!(
            "next: the evidence the table names (qemu.stderr, console logs), then the same run again: {command}"
        )),
        (0, _) => Some("next: this run beside the earlier ones: cargo xtask history".into()),
        _ => None,
    }
}

/// The next command after a bisection `b`, run as `command`.
pub fn after_bisection(b: &Bisection, command: &str) -> String {
    let before_bad = b.first_bad.as_ref().and_then(|bad| {
        let i = b.builds.iter().position(|x| x == bad)?;
        Some((bad, b.builds.get(i.checked_sub(1)?)?))
    });
    match (&b.status, before_bad) {
        (End::Found | End::FoundAssuming, Some((bad, good))) => format!(
            "next: the change between {good} and {bad} is the suspect; the two alone, decided sequentially: cargo xtask \
             rig --case {} --cpu {} --compare {bad},{good}",
            b.case, b.cpu
        ),
        (End::OldestBad, _) => {
            format!("next: the bug is older than the range: the same with an older build first: {command}")
        }
        (End::NewestClean, _) => format!(
            "next: the newest build never hit: a longer budget (--max-iterations) or a newer build, then: {command}"
        ),
        _ => format!("next: the probes' evidence on the page named above, then the same run again: {command}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished report whose one case ran one iteration with `outcome` and `verdict`.
    fn report(outcome: serde_json::Value, verdict: &str, stopped_early: Option<&str>) -> RunReport {
        serde_json::from_value(serde_json::json!({
            "schema": 1, "accel": "tcg", "seed": 1, "run_dir": "x", "shard": null, "stopped_early": stopped_early,
            "comparisons": [], "runs": [{
                "case": "c", "file": "c.yaml", "cpu": "epyc", "image": "linux", "iterations_planned": 1,
                "assigned": [1], "hunts": null, "compared": false, "stopped": null, "not_run": null,
                "iterations": [{"index": 1, "outcome": outcome, "verdict": verdict, "secs": 1.0, "seed": 1,
                                "evidence": "e", "steps": []}],
                "tally": {"ran": 1, "pass": u32::from(verdict == "pass"), "fail": u32::from(verdict == "fail"), "error": 0, "skipped": 0, "panics": 0, "hangs": 0,
                          "panic_rate": 0.0, "titles": []}}]
        }))
        .unwrap()
    }

    #[test]
    fn every_ending_names_a_next_command() {
        let next = |r: &RunReport| after_run(r, "cargo xtask rig --cpu epyc").unwrap_or_default();
        let pass = report(serde_json::json!({"kind": "completed"}), "pass", None);
        assert_eq!(next(&pass), "next: this run beside the earlier ones: cargo xtask history");
        let panic = serde_json::json!({"kind": "panic", "report": null, "title": "kernel BUG in f", "excerpt": "",
                                       "dumps": [], "triage": ""});
        let hit = report(panic, "fail", None);
        assert_eq!(
            next(&hit),
            "next: where else this crash was seen: cargo xtask history --signature 'kernel BUG in f'"
        );
        let step = serde_json::json!({"kind": "step_failed", "step": "check", "reason": "exit 1"});
        let failed = report(step, "fail", None);
        assert!(next(&failed).ends_with("then the same run again: cargo xtask rig --cpu epyc"), "{}", next(&failed));
        let stopped = report(serde_json::json!({"kind": "completed"}), "pass", Some("interrupted (Ctrl-C or SIGTERM)"));
        assert_eq!(next(&stopped), "next: the same run again: cargo xtask rig --cpu epyc");
    }

    #[test]
    fn a_bisection_names_the_pair_to_look_at_or_what_to_change() {
        let b = |status: End, first_bad: Option<&str>| Bisection {
            case: "os-7410-miniature".into(),
            cpu: "epyc".into(),
            builds: ["b1", "b2", "b3"].map(String::from).to_vec(),
            probes: Vec::new(),
            status,
            first_bad: first_bad.map(String::from),
            answer: String::new(),
        };
        let cmd = "cargo xtask rig --bisect b1,b2,b3";
        assert_eq!(
            after_bisection(&b(End::Found, Some("b2")), cmd),
            "next: the change between b1 and b2 is the suspect; the two alone, decided sequentially: cargo xtask rig \
             --case os-7410-miniature --cpu epyc --compare b2,b1"
        );
        assert!(after_bisection(&b(End::OldestBad, Some("b1")), cmd).contains("older than the range"));
        assert!(after_bisection(&b(End::NewestClean, None), cmd).contains("--max-iterations"));
        assert!(after_bisection(&b(End::Incomplete, None), cmd).ends_with(cmd));
    }
}
