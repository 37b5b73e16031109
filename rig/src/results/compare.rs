//! Buggy versus fixed: per build, the hit rate of the hunted panic with its 95% interval and
//! the module reloads its iterations really ran, and between the reference build and each
//! candidate, Fisher's exact test, so "fixed" is a claim with a number. A candidate whose
//! iterations did not really reload is never "fixed": see [`exercised`]. Pure: works on the
//! finished runs.

pub use super::comparison::{BuildStats, BuildVerdict, Comparison, Conclusion, Status};
use crate::case::model::Signature;
use crate::results::CaseRun;
use crate::results::IterationResult;
use crate::results::judged::{Judged, hits, not_exercised, not_exercised_rule};
use crate::results::outcome::Outcome;
use crate::results::reloads::ReloadCounts;
use crate::stats;

/// Significance level for "fixed".
pub const ALPHA: f64 = 0.05;

/// "Far fewer" reloads: a candidate whose median successful reloads per iteration is below
/// this fraction of the reference's did not run the race the reference ran.
pub const MIN_RELOAD_RATIO: f64 = 0.5;

/// Whether an outcome is a panic matching `sig` (any panic when `sig` is None).
pub fn matches(sig: Option<&Signature>, o: &Outcome) -> bool {
    let Outcome::Panic { report, title, .. } = o else { return false };
    sig.is_none_or(|s| s.matches_panic(report.as_ref(), title))
}

fn describe(sig: Option<&Signature>) -> String {
    match sig {
        None => "any panic".into(),
        Some(s) => {
            let mut parts = Vec::new();
            if let Some(t) = &s.title {
                parts.push(format!("title '{t}'"));
            }
            if let Some(m) = &s.message {
                parts.push(format!("message /{m}/"));
            }
            if let Some(f) = &s.function {
                parts.push(format!("{f} on the stack"));
            }
            parts.join(", ")
        }
    }
}

/// The figures of one build from its run.
pub fn build_stats(run: &CaseRun, sig: Option<&Signature>) -> BuildStats {
    let judged: Vec<&Outcome> = run.iterations.iter().map(|i| &i.outcome).filter(|o| o.judged()).collect();
    let n = judged.len() as u32;
    let counted: Vec<&crate::results::IterationResult> = run.iterations.iter().filter(|i| i.outcome.judged()).collect();
    let mut reloads = ReloadCounts::default();
    counted.iter().for_each(|i| reloads.merge(&i.reloads));
    let reloads_median =
        crate::stats::median(counted.iter().filter(|i| i.reloads.complete()).map(|i| i.reloads.reloads_ok).collect());
    let hits = judged.iter().filter(|o| matches(sig, o)).count() as u32;
    let panics = judged.iter().filter(|o| matches!(o, Outcome::Panic { .. })).count() as u32;
    let ci95 = stats::wilson(hits, n);
    let rate = if n == 0 { 0.0 } else { f64::from(hits) / f64::from(n) };
    let verdict = match (n, hits, panics) {
        (0, ..) => BuildVerdict::NothingRan,
        (_, 1.., _) => BuildVerdict::Reproduces,
        (_, 0, 1..) => BuildVerdict::OtherPanics,
        (_, 0, 0) => BuildVerdict::NoPanic,
    };
    BuildStats {
        image: run.image.clone(),
        iterations: n,
        panics,
        hits,
        rate,
        ci95,
        titles: run.tally.titles.clone(),
        verdict,
        reloads,
        reloads_median,
        stopped: run.stopped.clone(),
        // A sequential comparison's builds ran as long as needed: each says why it stopped.
        sequential: run.sequential,
    }
}

/// A build's judged iterations in index order: whether each hit and whether its race ran.
fn judged_iterations(run: &CaseRun, sig: Option<&Signature>) -> Vec<Judged> {
    let mut its: Vec<&crate::results::IterationResult> = run.iterations.iter().collect();
    its.sort_by_key(|i| i.index);
    its.iter().filter_map(|i| judged(sig, i)).collect()
}

/// What an iteration counts for in a comparison: None when it is not judged, else whether it
/// hit `sig`.
pub fn judged_hit(sig: Option<&Signature>, o: &Outcome) -> Option<bool> {
    o.judged().then(|| matches(sig, o))
}

/// What iteration `it` counts for: None when it is not judged (infra, skipped).
pub fn judged(sig: Option<&Signature>, it: &IterationResult) -> Option<Judged> {
    let hit = judged_hit(sig, &it.outcome)?;
    let r = &it.reloads;
    let race_ran = if hit || r.reloads_ok > 0 {
        Some(true)
    } else if r.attempted > 0 && r.complete() {
        Some(false)
    } else {
        None
    };
    Some(Judged { hit, race_ran })
}

/// Whether the candidate's iterations ran the race the reference's did, and if not, why. Only
/// judged when a build reloaded at all (a case without reloads has nothing to count): zero
/// successful reloads, or a median per iteration below [`MIN_RELOAD_RATIO`] of the reference's
/// (both medians over fully counted iterations), is not exercised.
pub fn exercised(reference: &BuildStats, cand: &BuildStats) -> Result<(), String> {
    let (r, c) = (&reference.reloads, &cand.reloads);
    if r.attempted == 0 && c.attempted == 0 {
        return Ok(());
    }
    if c.reloads_ok == 0 {
        return Err(format!(
            "none of {}'s {} reloads in {} iterations both unloaded and loaded ({} unloads refused as busy, {} loads \
             ok){}",
            cand.image,
            c.attempted,
            cand.iterations,
            c.unloads_busy,
            c.loads_ok,
            if c.complete() { String::new() } else { format!("; {} loops never reported", c.loops_unreported) }
        ));
    }
    match (reference.reloads_median, cand.reloads_median) {
        (Some(rm), Some(cm)) if cm < rm * MIN_RELOAD_RATIO => Err(format!(
            "{} reloaded a median {cm} times per iteration against {rm} for {}: below {:.0}% of the reference",
            cand.image,
            reference.image,
            MIN_RELOAD_RATIO * 100.0
        )),
        _ => Ok(()),
    }
}

/// Compares `runs` (same case and CPU; the first is the reference). Runs of a sequential
/// comparison are judged by its rules ([`sequential_conclusion`]), others by Fisher's exact
/// test on their counts.
pub fn compare(runs: &[&CaseRun], sig: Option<&Signature>) -> Comparison {
    let builds: Vec<BuildStats> = runs.iter().map(|r| build_stats(r, sig)).collect();
    let reference = &builds[0];
    let conclusions = builds[1..]
        .iter()
        .zip(&runs[1..])
        .map(|(cand, run)| {
            if runs[0].sequential && run.sequential {
                let design = crate::stats::sequential::DEFAULT;
                let budget = run.iterations_planned.max(runs[0].iterations_planned);
                return sequential_conclusion(
                    &design,
                    (reference, &judged_iterations(runs[0], sig)),
                    (cand, &judged_iterations(run, sig)),
                    budget,
                );
            }
            let p = stats::fisher_greater(reference.hits, reference.iterations, cand.hits, cand.iterations);
            let against = || {
                format!(
                    "{} 0/{} against {} {}/{}",
                    cand.image, cand.iterations, reference.image, reference.hits, reference.iterations
                )
            };
            let (status, text) = if cand.iterations == 0 || reference.iterations == 0 {
                (Status::Inconclusive, "inconclusive: a build ran no iteration to an outcome".to_string())
            } else if cand.hits > 0 {
                (
                    Status::NotFixed,
                    format!("NOT FIXED: {} still hits it ({}/{})", cand.image, cand.hits, cand.iterations),
                )
            } else if let Err(why) = exercised(reference, cand) {
                (Status::NotExercised, format!("NOT EXERCISED: the race did not run on {}: {why}", cand.image))
            } else if reference.hits == 0 {
                (
                    Status::Inconclusive,
                    format!(
                        "inconclusive: the reference {} did not reproduce in {} runs, so {}'s clean runs prove nothing",
                        reference.image, reference.iterations, cand.image
                    ),
                )
            } else if stats::significant(p, ALPHA) {
                (
                    Status::Fixed,
                    format!("FIXED: {}; Fisher's exact test p = {} (< {ALPHA})", against(), stats::show_p(p, ALPHA)),
                )
            } else {
                (
                    Status::Inconclusive,
                    format!(
                        "inconclusive: {} is not significant (p = {}, not below {ALPHA}); run more iterations",
                        against(),
                        stats::show_p(p, ALPHA)
                    ),
                )
            };
            Conclusion { candidate: cand.image.clone(), status, p_value: Some(p), text }
        })
        .collect();
    Comparison { case: runs[0].case.clone(), cpu: runs[0].cpu.clone(), hunts: describe(sig), builds, conclusions }
}

/// What a sequential comparison concludes about a candidate, from both builds' judged
/// iterations in order (see [`crate::stats::sequential`]); `budget` is the iterations per build
/// it was allowed. A candidate on which the race cannot run is NOT EXERCISED by the online
/// rule ([`not_exercised`]) before any other rule is asked, as the gate stopped it.
pub fn sequential_conclusion(
    design: &crate::stats::sequential::Design,
    (reference, ref_its): (&BuildStats, &[Judged]),
    (cand, cand_its): (&BuildStats, &[Judged]),
    budget: u32,
) -> Conclusion {
    use crate::stats::sequential::{Decision, Rule, decide, more_needed};
    let conclusion = |status, p_value, text| Conclusion { candidate: cand.image.clone(), status, p_value, text };
    let stopped = cand.stopped.as_ref().map(|s| format!(" (stopped: {s})")).unwrap_or_default();
    if let Some(n) = not_exercised(ref_its, cand_its) {
        return conclusion(
            Status::NotExercised,
            None,
            format!(
                "NOT EXERCISED: the race did not run on {}: decided after {n} iterations, as {}{stopped}; {}",
                cand.image,
                not_exercised_rule(),
                exercised(reference, cand).err().unwrap_or_else(|| cand.reloads.summary())
            ),
        );
    }
    match decide(design, &hits(ref_its), &hits(cand_its)) {
        Decision::NotFixed { at } => conclusion(
            Status::NotFixed,
            None,
            format!(
                "NOT FIXED: {} still hits it (first at its iteration {at}; {}/{})",
                cand.image, cand.hits, cand.iterations
            ),
        ),
        Decision::Fixed { rule, n, ref_hits, p, threshold } => {
            if let Err(why) = exercised(reference, cand) {
                return conclusion(
                    Status::NotExercised,
                    Some(p),
                    format!("NOT EXERCISED: the race did not run on {}: {why}", cand.image),
                );
            }
            let how = match rule {
                Rule::Early => format!(
                    "Fisher's exact test at the early look, {n} iterations per build: p = {} (< {threshold:.2e}, the early \
                     look's share of α = {})",
                    crate::stats::show_p(p, threshold),
                    design.alpha
                ),
                Rule::Race => format!(
                    "{} hit {ref_hits} times in its first {n} iterations before {} hit once: p ≤ {:.2e} (< {}) \
                     however often the run looked",
                    reference.image,
                    cand.image,
                    // A bound: rounded up, never below what it bounds (1/32 prints as 3.13e-2).
                    p * (1.0 + 1e-9),
                    design.alpha
                ),
            };
            conclusion(
                Status::Fixed,
                Some(p),
                format!(
                    "FIXED: {} 0/{} against {} {}/{}, decided sequentially; {how}",
                    cand.image, cand.iterations, reference.image, reference.hits, reference.iterations
                ),
            )
        }
        Decision::Undecided { n, ref_hits, needed } => {
            let cap = budget.max(n) * 20;
            let more = if reference.hits == 0 {
                format!(
                    "the reference {} has not reproduced in {} iterations, so {}'s clean runs prove nothing yet",
                    reference.image, reference.iterations, cand.image
                )
            } else {
                match more_needed(design, reference.hits, reference.iterations, n, cap) {
                    Some(m) => format!(
                        "at the reference's rate so far ({}/{}), about {m} more iterations per build would decide it \
                         with {:.0}% probability (--max-iterations {})",
                        reference.hits,
                        reference.iterations,
                        (1.0 - design.beta) * 100.0,
                        n + m
                    ),
                    None => format!(
                        "at the reference's rate so far ({}/{}) it would take more than {cap} iterations per build",
                        reference.hits, reference.iterations
                    ),
                }
            };
            conclusion(
                Status::Inconclusive,
                None,
                format!(
                    "inconclusive after {n} iterations per build{stopped}: {} 0/{}, the reference {ref_hits} of the \
                     {needed} hits that decide; {more}",
                    cand.image, cand.iterations
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixture::{case_run, iteration, panic};
    use crate::results::{IterationResult, StopReason};

    /// A build's run: one iteration per entry, `(panicked, successful reloads, loops unreported)`.
    fn run(image: &str, its: &[(bool, u32, u32)]) -> CaseRun {
        let iterations = (1..)
            .zip(its)
            .map(|(i, &(p, ok, lost))| IterationResult {
                reloads: ReloadCounts {
                    attempted: ok + 2,
                    unloads_ok: ok,
                    unloads_busy: 2,
                    unloads_absent: 0,
                    loads_ok: ok + 2,
                    reloads_ok: ok,
                    loop_rounds: ok + 2,
                    loops: 1 - lost,
                    loops_unreported: lost,
                },
                ..iteration(i, if p { panic("kernel BUG in vmm_zsd_destroy") } else { Outcome::Completed })
            })
            .collect();
        let mut r = case_run(image, iterations);
        (r.compared, r.assigned) = (true, Default::default());
        r
    }

    fn conclude(reference: &CaseRun, cand: &CaseRun) -> Conclusion {
        compare(&[reference, cand], None).conclusions.remove(0)
    }

    /// The reference panics in 6 of 8 iterations (its panicked ones never reported their loop).
    fn buggy() -> CaseRun {
        run(
            "debug",
            &[
                (true, 3, 1),
                (true, 0, 1),
                (false, 40, 0),
                (true, 5, 1),
                (true, 2, 1),
                (false, 44, 0),
                (true, 1, 1),
                (true, 1, 1),
            ],
        )
    }

    #[test]
    fn clean_runs_that_reloaded_as_much_are_fixed() {
        let c = conclude(&buggy(), &run("fixed", &[(false, 41, 0); 8]));
        assert_eq!(c.status, Status::Fixed, "{}", c.text);
    }

    #[test]
    fn clean_runs_without_a_successful_reload_are_not_exercised_never_fixed() {
        let c = conclude(&buggy(), &run("pinned", &[(false, 0, 0); 8]));
        assert_eq!(c.status, Status::NotExercised, "{}", c.text);
        assert!(
            c.text.starts_with("NOT EXERCISED: the race did not run on pinned: none of pinned's 16 reloads"),
            "{}",
            c.text
        );
        assert!(c.text.contains("16 unloads refused as busy"), "{}", c.text);
    }

    #[test]
    fn far_fewer_reloads_than_the_reference_are_not_exercised() {
        // The reference's median over its fully counted iterations is 42; 20 is below half.
        let c = conclude(&buggy(), &run("slow", &[(false, 20, 0); 8]));
        assert_eq!(c.status, Status::NotExercised, "{}", c.text);
        assert!(c.text.contains("a median 20 times per iteration against 42 for debug: below 50%"), "{}", c.text);
        assert_eq!(conclude(&buggy(), &run("ok", &[(false, 21, 0); 8])).status, Status::Fixed);
    }

    #[test]
    fn a_hit_is_not_fixed_whatever_the_reload_counts() {
        let c = conclude(&buggy(), &run("still", &[(true, 0, 1), (false, 0, 0)]));
        assert_eq!(c.status, Status::NotFixed, "{}", c.text);
    }

    #[test]
    fn cases_without_reloads_are_judged_on_hits_alone() {
        let mut reference = run("debug", &[(true, 0, 0); 6]);
        let mut cand = run("fixed", &[(false, 0, 0); 6]);
        for r in [&mut reference, &mut cand] {
            r.iterations.iter_mut().for_each(|i| i.reloads = ReloadCounts::default());
        }
        assert_eq!(conclude(&reference, &cand).status, Status::Fixed);
    }

    #[test]
    fn build_figures_carry_the_reload_counts() {
        let b = build_stats(&buggy(), None);
        assert_eq!((b.reloads.reloads_ok, b.reloads.loops_unreported, b.reloads_median), (96, 6, Some(42.0)));
    }

    #[test]
    fn a_p_value_exactly_at_alpha_is_inconclusive_and_reads_so() {
        // 3/3 against 0/3: p is exactly 1/20, which floating point put a hair below 0.05.
        let strip = |mut r: CaseRun| {
            r.iterations.iter_mut().for_each(|i| i.reloads = ReloadCounts::default());
            r
        };
        let c = conclude(&strip(run("debug", &[(true, 0, 0); 3])), &strip(run("fixed", &[(false, 0, 0); 3])));
        assert_eq!(c.status, Status::Inconclusive, "{}", c.text);
        assert!(c.text.contains("is not significant (p = 5.00e-2, not below 0.05)"), "{}", c.text);
        let c = conclude(&strip(run("debug", &[(true, 0, 0); 4])), &strip(run("fixed", &[(false, 0, 0); 4])));
        assert_eq!(c.status, Status::Fixed, "{}", c.text);
        assert!(c.text.contains("p = 1.43e-2 (< 0.05)"), "{}", c.text);
    }

    /// A build of a sequential comparison: hits where `its` says, reloads as a fixed build's.
    fn seq(image: &str, its: &[bool], stopped: StopReason) -> CaseRun {
        let mut r = run(image, &its.iter().map(|&p| (p, 40, u32::from(p))).collect::<Vec<_>>());
        r.sequential = true;
        r.iterations_planned = 100;
        r.stopped = Some(stopped);
        r
    }

    #[test]
    fn a_sequential_comparison_is_judged_by_its_rules_and_says_why_each_build_stopped() {
        let c = conclude(
            &seq("debug", &[true; 4], StopReason::CandidatesDone),
            &seq("fixed", &[false; 4], StopReason::Decided { iterations: 4 }),
        );
        assert_eq!(c.status, Status::Fixed, "{}", c.text);
        assert!(
            c.text.contains("decided sequentially; Fisher's exact test at the early look, 4 iterations"),
            "{}",
            c.text
        );
        assert!(c.text.contains("p = 1.43e-2 (< 1.88e-2"), "{}", c.text);

        let reference = seq("debug", &[true, true, false, true, true, false, true], StopReason::CandidatesDone);
        let c = conclude(&reference, &seq("fixed", &[false; 7], StopReason::Decided { iterations: 7 }));
        assert_eq!(c.status, Status::Fixed, "{}", c.text);
        assert!(
            c.text.contains("debug hit 5 times in its first 7 iterations before fixed hit once: p ≤ 3.13e-2"),
            "{}",
            c.text
        );
        let cmp = compare(&[&reference, &seq("fixed", &[false; 7], StopReason::Decided { iterations: 7 })], None);
        assert_eq!(
            cmp.builds[1].verdict_line(),
            "no panic in 7 runs: rate < 34.8% at 95%; stopped: decided after 7 iterations per build"
        );

        let c = conclude(&reference, &seq("still", &[false, false, true], StopReason::DecidedAtHit { iteration: 3 }));
        assert_eq!(c.status, Status::NotFixed, "{}", c.text);
        assert!(c.text.contains("first at its iteration 3"), "{}", c.text);
    }

    #[test]
    fn a_sequential_comparison_at_its_budget_is_inconclusive_and_says_what_more_it_needs() {
        let mut r = vec![false; 20];
        r[3] = true;
        r[11] = true;
        let c = conclude(
            &seq("debug", &r, StopReason::Budget { iterations: 20 }),
            &seq("fixed", &[false; 20], StopReason::Budget { iterations: 20 }),
        );
        assert_eq!(c.status, Status::Inconclusive, "{}", c.text);
        assert!(
            c.text.starts_with("inconclusive after 20 iterations per build (stopped: budget: 20 iterations): fixed 0/20, the reference 2 of the 5 hits"),
            "{}",
            c.text
        );
        let more = crate::stats::sequential::more_needed(&crate::stats::sequential::DEFAULT, 2, 20, 20, 2000).unwrap();
        assert!(c.text.contains(&format!("about {more} more iterations per build")), "{}", c.text);

        let c = conclude(
            &seq("debug", &[false; 6], StopReason::Budget { iterations: 6 }),
            &seq("fixed", &[false; 6], StopReason::Budget { iterations: 6 }),
        );
        assert!(c.text.contains("the reference debug has not reproduced in 6 iterations"), "{}", c.text);
    }

    #[test]
    fn a_candidate_stopped_online_because_its_race_never_ran_is_not_exercised_never_inconclusive() {
        // Three judged iterations, each with reloads tried and none completed: the gate stops
        // it there, where the hit rules alone are still undecided (inconclusive by budget).
        let mut pinned = seq("pinned", &[false; 3], StopReason::NotExercised { iterations: 3 });
        pinned.iterations.iter_mut().for_each(|i| i.reloads.reloads_ok = 0);
        let c = conclude(&seq("debug", &[true, false, true], StopReason::CandidatesDone), &pinned);
        assert_eq!(c.status, Status::NotExercised, "{}", c.text);
        assert!(
            c.text.starts_with(
                "NOT EXERCISED: the race did not run on pinned: decided after 3 iterations, as its first 3 judged \
                 iterations tried module reloads and completed none, while the reference's race ran in 3 or more \
                 (stopped: not exercised: no reload completed in its first 3 judged iterations); none of pinned's"
            ),
            "{}",
            c.text
        );
        // One completed reload among them, and the rule holds off: the hit rules decide.
        pinned.iterations[1].reloads.reloads_ok = 1;
        let c = conclude(&seq("debug", &[true, false, true], StopReason::CandidatesDone), &pinned);
        assert_eq!(c.status, Status::Inconclusive, "{}", c.text);
    }

    #[test]
    fn a_sequentially_decided_candidate_that_never_reloaded_is_not_exercised() {
        let mut pinned = seq("pinned", &[false; 4], StopReason::Decided { iterations: 4 });
        pinned.iterations.iter_mut().for_each(|i| i.reloads.reloads_ok = 0);
        let c = conclude(&seq("debug", &[true; 4], StopReason::CandidatesDone), &pinned);
        assert_eq!(c.status, Status::NotExercised, "{}", c.text);
    }

    #[test]
    fn an_iteration_says_whether_its_race_ran() {
        let counts = |attempted, reloads_ok, loops_unreported| ReloadCounts {
            attempted,
            reloads_ok,
            loops_unreported,
            ..Default::default()
        };
        let it = |o, r| IterationResult { reloads: r, ..iteration(1, o) };
        let j = |i: &IterationResult| judged(None, i).map(|j| j.race_ran);
        assert_eq!(j(&it(Outcome::Completed, counts(10, 4, 0))), Some(Some(true)));
        assert_eq!(j(&it(Outcome::Completed, counts(10, 0, 0))), Some(Some(false)));
        assert_eq!(j(&it(Outcome::Completed, counts(10, 0, 1))), Some(None), "a loop's counts were lost");
        assert_eq!(j(&it(Outcome::Completed, counts(0, 0, 0))), Some(None), "no reload tried");
        assert_eq!(j(&it(panic("BUG"), counts(0, 0, 1))), Some(Some(true)), "a hit ran it");
        assert_eq!(j(&it(Outcome::Infra { reason: "x".into() }, counts(10, 0, 0))), None);
    }
}
