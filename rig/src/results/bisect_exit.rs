//! A run's answer for `git bisect run`: good (0), bad (1) or skip (125), so the rig can judge
//! one build of a kernel tree per bisection step. A build is bad only when the hunted panic
//! (the case's `hunts:`, or any panic when it hunts none) was seen; good only when the race
//! ran (judged iterations, and reloads that really unloaded and loaded when the case reloads)
//! without it; anything else (infra, nothing judged, the race not exercised, another panic,
//! an unfinished or undecided comparison) is skip, so a build that could not be judged never
//! steers the bisection.

use super::compare::matches;
use super::comparison::Status;
use super::model::RunReport;
use super::outcome::Outcome;

/// `git bisect run`'s codes.
pub const GOOD: i32 = 0;
/// The build reproduces the bug.
pub const BAD: i32 = 1;
/// The build could not be judged.
pub const SKIP: i32 = 125;

/// The answer and why.
pub fn bisect_answer(r: &RunReport) -> (i32, String) {
    if !r.finished {
        return (SKIP, "the run did not finish".into());
    }
    if let Some(why) = &r.stopped_early {
        return (SKIP, format!("the run stopped early: {why}"));
    }
    if !r.comparisons.is_empty() {
        let all: Vec<_> = r.comparisons.iter().flat_map(|c| &c.conclusions).collect();
        if let Some(c) = all.iter().find(|c| c.status == Status::NotFixed) {
            return (BAD, c.text.clone());
        }
        if !all.is_empty() && all.iter().all(|c| c.status == Status::Fixed) {
            return (GOOD, all.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join("; "));
        }
        return (SKIP, all.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join("; "));
    }
    let runs: Vec<_> = r.runs.iter().filter(|c| !c.compared).collect();
    for run in &runs {
        if let Some(i) = run.iterations.iter().find(|i| matches(run.hunts.as_ref(), &i.outcome)) {
            let Outcome::Panic { title, .. } = &i.outcome else { unreachable!("a hit is a panic") };
            return (BAD, format!("{} on {}: '{title}' in iteration {}", run.case, run.image, i.index));
        }
    }
    let mut judged = 0;
    for run in &runs {
        for i in &run.iterations {
            let other = match &i.outcome {
                Outcome::Panic { title, .. } => format!("another panic ('{title}')"),
                Outcome::Hang { awaited, .. } => format!("a hang (awaiting {awaited})"),
                _ => continue,
            };
            return (SKIP, format!("{} on {}: {other} in iteration {}", run.case, run.image, i.index));
        }
        let counted: Vec<_> = run.iterations.iter().filter(|i| i.outcome.judged()).collect();
        let attempted: u32 = counted.iter().map(|i| i.reloads.attempted).sum();
        let reloaded: u32 = counted.iter().map(|i| i.reloads.reloads_ok).sum();
        if attempted > 0 && reloaded == 0 {
            let why = format!("none of {attempted} reloads both unloaded and loaded");
            return (SKIP, format!("{} on {}: not exercised: {why}", run.case, run.image));
        }
        judged += counted.len();
    }
    if judged == 0 {
        return (SKIP, "no iteration was judged (infra, skipped or none ran)".into());
    }
    (GOOD, format!("no hunted panic in {judged} judged iteration(s)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixture::{self, case_run, iteration, panic};
    use crate::results::model::IterationResult;

    fn it(index: u32, outcome: Outcome, reloads_ok: u32) -> IterationResult {
        let mut i = iteration(index, outcome);
        i.reloads.attempted = 2;
        i.reloads.reloads_ok = reloads_ok;
        i
    }

    fn report(iterations: Vec<IterationResult>, hunts: Option<&str>) -> RunReport {
        let mut run = case_run("linux-mine", iterations);
        run.hunts = hunts.map(|t| crate::case::model::Signature { title: Some(t.into()), ..Default::default() });
        fixture::report(vec![run])
    }

    #[test]
    fn the_hunted_panic_is_bad_a_clean_exercised_run_good() {
        let r = report(
            vec![it(1, Outcome::Completed, 2), it(2, panic("kernel BUG in vmm_zsd_destroy"), 1)],
            Some("kernel BUG in vmm_zsd_destroy"),
        );
        let (code, why) = bisect_answer(&r);
        assert_eq!(code, BAD, "{why}");
        assert!(why.contains("'kernel BUG in vmm_zsd_destroy' in iteration 2"), "{why}");
        let r = report(vec![it(1, Outcome::Completed, 2), it(2, Outcome::Completed, 2)], Some("x"));
        assert_eq!(bisect_answer(&r), (GOOD, "no hunted panic in 2 judged iteration(s)".into()));
    }

    #[test]
    fn what_cannot_be_judged_is_skip() {
        // Another panic, a hang, the race not exercised, nothing judged, an unfinished run.
        let other = report(vec![it(1, panic("general protection fault in foo"), 2)], Some("kernel BUG in bar"));
        assert_eq!(bisect_answer(&other).0, SKIP);
        let hang = Outcome::Hang { awaited: "ssh".into(), tail: String::new(), evidence: None };
        assert_eq!(bisect_answer(&report(vec![it(1, hang, 2)], None)).0, SKIP);
        let (code, why) = bisect_answer(&report(vec![it(1, Outcome::Completed, 0)], None));
        assert_eq!(code, SKIP);
        assert!(why.contains("not exercised"), "{why}");
        let infra = Outcome::Infra { reason: "boot went silent".into() };
        assert_eq!(bisect_answer(&report(vec![it(1, infra, 2)], None)).0, SKIP);
        let mut unfinished = report(vec![it(1, Outcome::Completed, 2)], None);
        unfinished.finished = false;
        assert_eq!(bisect_answer(&unfinished).0, SKIP);
    }
}
