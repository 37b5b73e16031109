//! The command a user would type next, printed as a run's last line, by what the run found.

use rig::results::Outcome;
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
        (3, _) => Some(format!(
            "next: the evidence the table names (qemu.stderr, console logs), then the same run again: {command}"
        )),
        _ => None,
    }
}
