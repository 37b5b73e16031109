//! Sequential verdicts: a comparison of a reference build (which hits the bug) and a candidate
//! that stops as soon as the numbers decide, with error rates that hold however often it looks.
//!
//! Both builds run iteration for iteration. For one candidate against the reference:
//! - **NOT FIXED** at the candidate's first hit of the hunted signature. A hit is proof, not a
//!   statistic: a fixed build cannot produce it, so this verdict has no error rate of its own.
//! - **FIXED** when the reference has hit `a*` times in its first n iterations while the
//!   candidate ran n (or more) without a hit. If the candidate's rate were at least `ratio`
//!   times the reference's, each hit that lands would be the reference's with probability at
//!   most 1 / (1 + ratio) (in a pair where both could hit, the candidate's hit wins: it ends the
//!   run as NOT FIXED). So `a*` reference hits before any candidate hit happen with probability
//!   at most (1 / (1 + ratio))^a*, at whatever moment the run looks: the bound holds under
//!   continuous monitoring, which a fixed-count test re-run after every iteration does not.
//!   With α = 0.05 and ratio 1, a* = 5 (bound 1/32).
//! - **FIXED early**: what α the race rule leaves unspent (0.05 - 1/32) buys one Fisher exact
//!   test after 4 iterations per build, which a full reproducer passes: 4/4 against 0/4 gives
//!   p = 1/70. The two rules together call FIXED a build as buggy as the reference with
//!   probability at most α (a union bound).
//! - **Inconclusive** at the budget, saying how many more iterations per build the reference's
//!   rate so far would need.
//!
//! β, the chance a really fixed candidate is still undecided at the budget, depends on the
//! reference's hit rate: [`power`] computes it exactly, [`budget_for`] inverts it.

use super::{fisher_greater, significant};

/// The parameters of a sequential comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    /// The chance, over the whole run, of calling FIXED a candidate whose rate is at least
    /// `ratio` times the reference's.
    pub alpha: f64,
    /// The rate a fix must beat, as a fraction of the reference's: 1 means "lower than the
    /// reference's"; 0.5 demands the candidate's rate below half of it (more hits needed).
    pub ratio: f64,
    /// The chance the budgets of [`budget_for`] and [`more_needed`] leave a fixed build
    /// undecided.
    pub beta: f64,
    /// Iterations per build at the early Fisher look (0: none).
    pub early_look: u32,
}

/// α = 0.05, a fix beats the reference's rate, β = 0.1, an early look after 4 iterations.
pub const DEFAULT: Design = Design { alpha: 0.05, ratio: 1.0, beta: 0.1, early_look: 4 };

impl Design {
    /// The chance that the next hit is the reference's if the candidate were not fixed.
    fn q(&self) -> f64 {
        1.0 / (1.0 + self.ratio)
    }

    /// a*: the reference hits, with the candidate clean, that decide FIXED.
    pub fn race_hits(&self) -> u32 {
        let a = (self.alpha.ln() / self.q().ln()).ceil().max(1.0) as u32;
        // ceil() of a ratio that is an integer in exact arithmetic may land one above or below.
        if a > 1 && self.q().powi(a as i32 - 1) <= self.alpha { a - 1 } else { a }
    }

    /// The race rule's error bound: (1 / (1 + ratio))^a*.
    pub fn race_alpha(&self) -> f64 {
        self.q().powi(self.race_hits() as i32)
    }

    /// What the early look may spend: α minus the race rule's bound.
    pub fn early_alpha(&self) -> f64 {
        if self.early_look == 0 { 0.0 } else { (self.alpha - self.race_alpha()).max(0.0) }
    }

    /// The reference hits in `early_look` iterations that pass the early look against a clean
    /// candidate (None: none can).
    pub fn early_hits(&self) -> Option<u32> {
        let n = self.early_look;
        (1..=n).find(|&a| significant(fisher_greater(a, n, 0, n), self.early_alpha()))
    }
}

/// How a FIXED verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// a* reference hits before any candidate hit.
    Race,
    /// Fisher's exact test at the early look.
    Early,
}

/// Where a sequential comparison stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// After `n` iterations per build the reference had hit `ref_hits` times, the candidate
    /// never: the chance of that from a build as buggy as the reference is at most `p`
    /// (below `threshold`).
    Fixed { rule: Rule, n: u32, ref_hits: u32, p: f64, threshold: f64 },
    /// The candidate hit the signature in its judged iteration `at` (1-based).
    NotFixed { at: u32 },
    /// Not decided after `n` iterations per build: the reference has `ref_hits` of the
    /// `needed` hits.
    Undecided { n: u32, ref_hits: u32, needed: u32 },
}

impl Decision {
    /// Whether the comparison is over.
    pub fn decided(&self) -> bool {
        !matches!(self, Decision::Undecided { .. })
    }
}

/// Decides from each build's judged iterations in order (true: a hit of the hunted signature).
/// Only the first n of the reference's count, n being the candidate's iterations, so a
/// reference that ran ahead does not tip the scale. Pure, so the engine (which stops on it)
/// and the report (which explains it) agree. A hit anywhere in the candidate is NOT FIXED,
/// even after a rule found it clean.
pub fn decide(design: &Design, reference: &[bool], candidate: &[bool]) -> Decision {
    if let Some(i) = candidate.iter().position(|&h| h) {
        return Decision::NotFixed { at: i as u32 + 1 };
    }
    let m = reference.len().min(candidate.len());
    let need = design.race_hits();
    let hits_in = |n: usize| reference[..n].iter().filter(|&&h| h).count() as u32;
    let e = design.early_look as usize;
    if e > 0 && e <= m && design.early_hits().is_some_and(|need| hits_in(e) >= need) {
        let a = hits_in(e);
        let p = fisher_greater(a, e as u32, 0, e as u32);
        return Decision::Fixed { rule: Rule::Early, n: e as u32, ref_hits: a, p, threshold: design.early_alpha() };
    }
    let mut a = 0;
    for (i, &h) in reference[..m].iter().enumerate() {
        a += u32::from(h);
        if a >= need {
            let p = design.race_alpha();
            return Decision::Fixed { rule: Rule::Race, n: i as u32 + 1, ref_hits: a, p, threshold: design.alpha };
        }
    }
    Decision::Undecided { n: m as u32, ref_hits: a, needed: need }
}

/// P(Bin(n, rate) >= k).
fn at_least(n: u32, rate: f64, k: u32) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let below: f64 = (0..k).map(|j| binomial_pmf(n, rate, j)).sum();
    (1.0 - below).clamp(0.0, 1.0)
}

fn binomial_pmf(n: u32, rate: f64, k: u32) -> f64 {
    if rate <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if rate >= 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    (super::ln_choose(n, k) + f64::from(k) * rate.ln() + f64::from(n - k) * (1.0 - rate).ln()).exp()
}

/// The chance that a clean candidate is called FIXED within `budget` iterations per build
/// against a reference that hits with probability `rate` (1 - β at that budget). Exact.
pub fn power(design: &Design, rate: f64, budget: u32) -> f64 {
    let need = design.race_hits();
    let race = at_least(budget, rate, need);
    let (e, early) = (design.early_look, design.early_hits());
    let Some(early_need) = early.filter(|_| e > 0 && e <= budget) else { return race };
    // P(early or race) = P(early) + P(race) - P(both).
    let p_early = at_least(e, rate, early_need);
    let both: f64 =
        (early_need..=e).map(|j| binomial_pmf(e, rate, j) * at_least(budget - e, rate, need.saturating_sub(j))).sum();
    (p_early + race - both).clamp(0.0, 1.0)
}

/// The smallest budget (iterations per build, up to `cap`) at which [`power`] reaches
/// `1 - beta` for a reference hitting at `rate`.
pub fn budget_for(design: &Design, rate: f64, cap: u32) -> Option<u32> {
    (1..=cap).find(|&n| power(design, rate, n) >= 1.0 - design.beta)
}

/// How many more iterations per build an undecided comparison after `done` needs, if the
/// reference keeps hitting at its rate so far (`ref_hits` in `ref_n`), to decide with
/// probability 1 - β. None when the reference has not hit yet (no rate to go by) or the
/// answer is beyond `cap` iterations in all.
pub fn more_needed(design: &Design, ref_hits: u32, ref_n: u32, done: u32, cap: u32) -> Option<u32> {
    if ref_hits == 0 || ref_n == 0 {
        return None;
    }
    let rate = f64::from(ref_hits) / f64::from(ref_n);
    budget_for(design, rate, cap).map(|n| n.saturating_sub(done).max(1))
}

/// The fixed count per build with the same error rates: the fewest iterations n at which a
/// one-sided Fisher test at α of the reference's hits against a clean candidate's n reaches
/// power 1 - β for a reference hitting at `rate` (None beyond `cap`). What `--iterations`
/// would have to be to match the sequential run's guarantees.
pub fn fixed_count_for(design: &Design, rate: f64, cap: u32) -> Option<u32> {
    (1..=cap).find(|&n| {
        (1..=n)
            .find(|&a| significant(fisher_greater(a, n, 0, n), design.alpha))
            .is_some_and(|need| at_least(n, rate, need) >= 1.0 - design.beta)
    })
}

/// The expected iterations per build until a clean candidate is decided against a reference
/// hitting at `rate`, within `cap` (the run stops at the cap).
pub fn expected_iterations(design: &Design, rate: f64, cap: u32) -> f64 {
    (0..cap).map(|n| 1.0 - power(design, rate, n)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One simulated campaign: both builds run until decided or `budget`.
    fn campaign(
        rng: &mut fastrand::Rng,
        design: &Design,
        ref_rate: f64,
        cand_rate: f64,
        budget: u32,
    ) -> (Decision, u32) {
        let (mut r, mut c) = (Vec::new(), Vec::new());
        for n in 1..=budget {
            r.push(rng.f64() < ref_rate);
            c.push(rng.f64() < cand_rate);
            let d = decide(design, &r, &c);
            if d.decided() {
                return (d, n);
            }
        }
        (decide(design, &r, &c), budget)
    }

    #[test]
    fn the_default_needs_five_hits_and_spends_the_rest_on_an_early_look() {
        assert_eq!(DEFAULT.race_hits(), 5);
        assert!((DEFAULT.race_alpha() - 1.0 / 32.0).abs() < 1e-15);
        assert!((DEFAULT.early_alpha() - (0.05 - 1.0 / 32.0)).abs() < 1e-15);
        assert_eq!(DEFAULT.early_hits(), Some(4));
        // A stricter fix (below half the reference's rate) needs more hits: (2/3)^8 < 0.05.
        assert_eq!(Design { ratio: 0.5, ..DEFAULT }.race_hits(), 8);
        // α = 1/32 exactly is met by 5 hits, not 6.
        assert_eq!(Design { alpha: 1.0 / 32.0, ..DEFAULT }.race_hits(), 5);
    }

    #[test]
    fn a_full_reproducer_is_fixed_at_four_iterations_per_build() {
        let d = decide(&DEFAULT, &[true; 4], &[false; 4]);
        let Decision::Fixed { rule: Rule::Early, n: 4, ref_hits: 4, p, .. } = d else { panic!("{d:?}") };
        assert!((p - 1.0 / 70.0).abs() < 1e-12);
        // 3 of 4 does not pass the early look; the fifth hit decides by the race rule.
        assert_eq!(
            decide(&DEFAULT, &[true, true, true, false], &[false; 4]),
            Decision::Undecided { n: 4, ref_hits: 3, needed: 5 }
        );
        let d = decide(&DEFAULT, &[true, true, true, false, true, true], &[false; 6]);
        assert!(matches!(d, Decision::Fixed { rule: Rule::Race, n: 6, ref_hits: 5, .. }), "{d:?}");
        assert_eq!(decide(&DEFAULT, &[true; 3], &[false; 3]), Decision::Undecided { n: 3, ref_hits: 3, needed: 5 });
    }

    #[test]
    fn a_reference_that_ran_ahead_counts_only_as_far_as_the_candidate() {
        assert!(!decide(&DEFAULT, &[true; 9], &[false; 3]).decided());
        assert!(decide(&DEFAULT, &[true; 9], &[false; 5]).decided());
    }

    #[test]
    fn a_candidate_hit_is_not_fixed_even_after_a_fixed_rule() {
        let mut cand = vec![false; 6];
        cand[5] = true;
        assert_eq!(decide(&DEFAULT, &[true; 6], &cand), Decision::NotFixed { at: 6 });
    }

    /// The error rate the method promises: a candidate as buggy as the reference is called
    /// FIXED in at most α of the runs, at any rate, looked at after every iteration.
    #[test]
    fn simulated_campaigns_call_an_unfixed_build_fixed_at_most_alpha() {
        let mut rng = fastrand::Rng::with_seed(7410);
        let runs = 5000;
        let bound = |alpha: f64| alpha + 3.0 * (alpha * (1.0 - alpha) / f64::from(runs)).sqrt();
        for rate in [0.02, 0.05, 0.1, 0.3, 0.7, 0.95] {
            let fixed = (0..runs)
                .filter(|_| matches!(campaign(&mut rng, &DEFAULT, rate, rate, 400).0, Decision::Fixed { .. }))
                .count();
            assert!(fixed as f64 / f64::from(runs) <= bound(0.05), "rate {rate}: FIXED in {fixed} of {runs}");
        }
        // A candidate at exactly half the reference's rate, with a design demanding a fix beat half.
        let strict = Design { ratio: 0.5, ..DEFAULT };
        let fixed = (0..runs)
            .filter(|_| matches!(campaign(&mut rng, &strict, 0.2, 0.1, 400).0, Decision::Fixed { .. }))
            .count();
        assert!(fixed as f64 / f64::from(runs) <= bound(0.05), "half rate: FIXED in {fixed} of {runs}");
    }

    /// The other side: a clean candidate is decided within the budget as often as [`power`]
    /// says, and a full reproducer needs 4 + 4 iterations every time.
    #[test]
    fn simulated_campaigns_decide_a_fixed_build_as_often_as_the_power_says() {
        let mut rng = fastrand::Rng::with_seed(18);
        let runs = 5000;
        for (rate, budget) in [(1.0, 10), (0.5, 8), (0.9, 4), (0.1, 60), (0.08, 100)] {
            let results: Vec<(Decision, u32)> =
                (0..runs).map(|_| campaign(&mut rng, &DEFAULT, rate, 0.0, budget)).collect();
            let fixed =
                results.iter().filter(|(d, _)| matches!(d, Decision::Fixed { .. })).count() as f64 / f64::from(runs);
            let want = power(&DEFAULT, rate, budget);
            let se = (want * (1.0 - want) / f64::from(runs)).sqrt();
            assert!((fixed - want).abs() <= 4.0 * se + 1e-9, "rate {rate}, budget {budget}: {fixed} against {want}");
            assert!(results.iter().all(|(d, _)| !matches!(d, Decision::NotFixed { .. })));
        }
        assert_eq!(power(&DEFAULT, 1.0, 4), 1.0);
        let (d, n) = campaign(&mut rng, &DEFAULT, 1.0, 0.0, 20);
        assert!(matches!(d, Decision::Fixed { n: 4, .. }) && n == 4, "{d:?} after {n}");
    }

    #[test]
    fn sequential_runs_need_fewer_iterations_on_average_than_the_fixed_count_they_match() {
        // A full reproducer: 4 either way. Rarer races: the fixed count is what the sequential
        // budget must allow, but the sequential run stops, on average, well before it.
        assert_eq!(fixed_count_for(&DEFAULT, 1.0, 1000), Some(4));
        assert!((expected_iterations(&DEFAULT, 1.0, 100) - 4.0).abs() < 1e-9);
        for rate in [0.3, 0.1, 0.08, 0.05] {
            let fixed = fixed_count_for(&DEFAULT, rate, 2000).unwrap();
            let expected = expected_iterations(&DEFAULT, rate, 2000);
            assert!(expected < 0.75 * f64::from(fixed), "rate {rate}: {expected} against {fixed}");
        }
        // 10%: 78 fixed; 5 hits are expected after 50.
        assert_eq!(fixed_count_for(&DEFAULT, 0.1, 2000), Some(78));
        assert!((expected_iterations(&DEFAULT, 0.1, 2000) - 50.0).abs() < 1.0);
    }

    #[test]
    fn the_budget_for_a_rate_and_what_more_an_undecided_run_needs() {
        assert_eq!(budget_for(&DEFAULT, 1.0, 1000), Some(4));
        let b10 = budget_for(&DEFAULT, 0.1, 1000).unwrap();
        let b05 = budget_for(&DEFAULT, 0.05, 1000).unwrap();
        assert!(b10 < b05 && power(&DEFAULT, 0.1, b10) >= 0.9 && power(&DEFAULT, 0.1, b10 - 1) < 0.9, "{b10} {b05}");
        // 2 hits in 20 (10%): the budget a 10% reference needs, less the 20 done.
        assert_eq!(more_needed(&DEFAULT, 2, 20, 20, 1000), Some(b10 - 20));
        assert_eq!(more_needed(&DEFAULT, 0, 20, 20, 1000), None);
    }
}
