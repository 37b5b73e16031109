//! The statistics behind "reproduces" and "fixed": binomial confidence intervals, the rule of
//! three for zero hits, and Fisher's exact test between two builds. Pure and unit-tested
//! against known values.

pub mod sequential;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval for `k` hits in `n` trials, 95%. `(0, 1)` when `n == 0`.
pub fn wilson(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (f64::from(k), f64::from(n));
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The exact 95% upper bound on the rate after zero hits in `n` trials: `1 - 0.05^(1/n)`
/// (the rule of three, `3/n`, approximates it).
pub fn zero_hit_upper(n: u32) -> f64 {
    if n == 0 { 1.0 } else { 1.0 - 0.05f64.powf(1.0 / f64::from(n)) }
}

fn ln_factorial(n: u32) -> f64 {
    // A table for the counts comparisons see (sequential runs recompute Fisher at every look).
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = vec![0.0f64; 4097];
        for i in 2..t.len() {
            t[i] = t[i - 1] + (i as f64).ln();
        }
        t
    });
    match table.get(n as usize) {
        Some(&v) => v,
        None => table[4096] + (4097..=n).map(|i| f64::from(i).ln()).sum::<f64>(),
    }
}

pub(crate) fn ln_choose(n: u32, k: u32) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

/// One-sided Fisher's exact test: the probability of seeing at least `a` hits in the first
/// group (`a` of `n1`, against `c` of `n2`) if both groups had the same rate. Small means the
/// first group's rate is really higher (e.g. the buggy build panics more than the candidate).
pub fn fisher_greater(a: u32, n1: u32, c: u32, n2: u32) -> f64 {
    let hits = a + c;
    let total = n1 + n2;
    if total == 0 || n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let denom = ln_choose(total, hits);
    let lo = a;
    let hi = hits.min(n1);
    let p: f64 =
        (lo..=hi).filter(|&x| hits - x <= n2).map(|x| (ln_choose(n1, x) + ln_choose(n2, hits - x) - denom).exp()).sum();
    p.min(1.0)
}

/// Iterations that see a race hitting at `rate` at least once with probability `1 - beta`:
/// ceil(ln β / ln(1 - rate)). One for a rate of 1; None for a rate of 0 or below.
pub fn iterations_to_hit(rate: f64, beta: f64) -> Option<u32> {
    if rate <= 0.0 || rate > 1.0 {
        return None;
    }
    if rate >= 1.0 {
        return Some(1);
    }
    Some((beta.ln() / (1.0 - rate).ln()).ceil().max(1.0) as u32)
}

/// The chance that `n` iterations see a race hitting at `rate` at least once: 1 - (1 - rate)^n,
/// the inverse of [`iterations_to_hit`] (0 for no iterations or a rate of 0 or below).
pub fn chance_to_hit(rate: f64, n: u32) -> f64 {
    if n == 0 || rate <= 0.0 {
        return 0.0;
    }
    1.0 - (1.0 - rate.min(1.0)).powf(f64::from(n))
}

/// The relative margin by which a p-value must clear its threshold: floating point puts an
/// exact 1/20 a hair below 0.05, and a verdict must not flip on rounding.
const P_MARGIN: f64 = 1e-9;

/// Whether `p` is below `alpha` with a margin that errs toward "not significant": a p-value
/// equal to `alpha` in exact arithmetic (3/3 against 0/3 gives exactly 1/20) is not below it.
pub fn significant(p: f64, alpha: f64) -> bool {
    p < alpha * (1.0 - P_MARGIN)
}

/// `p` printed so that it agrees with [`significant`]: three significant digits, more when a
/// significant `p` would print as `alpha` or above it; a p-value that is not significant
/// never prints below `alpha` (exactly 1/20 prints as `5.00e-2`).
pub fn show_p(p: f64, alpha: f64) -> String {
    for digits in 2..=16 {
        let s = format!("{p:.digits$e}");
        let shown: f64 = s.parse().unwrap_or(p);
        if (shown < alpha) == significant(p, alpha) {
            return s;
        }
    }
    format!("{p:e}")
}

/// The median of per-iteration figures (None for none).
pub fn median(mut v: Vec<u32>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 { f64::from(v[n / 2]) } else { (f64::from(v[n / 2 - 1]) + f64::from(v[n / 2])) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() < eps
    }

    #[test]
    fn wilson_known_values() {
        // 10 of 30: [0.1923, 0.5122] (standard tables).
        let (lo, hi) = wilson(10, 30);
        assert!(close(lo, 0.1923, 1e-3) && close(hi, 0.5122, 1e-3), "{lo} {hi}");
        // 0 of 30: [0, 0.1135].
        let (lo, hi) = wilson(0, 30);
        assert!(close(lo, 0.0, 1e-9) && close(hi, 0.1135, 1e-3), "{lo} {hi}");
        // 30 of 30: [0.8865, 1].
        let (lo, hi) = wilson(30, 30);
        assert!(close(lo, 0.8865, 1e-3) && close(hi, 1.0, 1e-9), "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn zero_hits_bound_is_near_the_rule_of_three() {
        assert!(close(zero_hit_upper(200), 0.01487, 1e-4));
        assert!(close(zero_hit_upper(30), 0.0950, 1e-3));
        assert!(zero_hit_upper(200) < 3.0 / 200.0);
    }

    #[test]
    fn iterations_to_see_a_rare_race() {
        // 5%: 0.95^45 = 0.0994 < 0.1, 0.95^44 = 0.1047.
        assert_eq!(iterations_to_hit(0.05, 0.1), Some(45));
        assert_eq!(iterations_to_hit(1.0, 0.1), Some(1));
        assert_eq!(iterations_to_hit(0.5, 0.1), Some(4));
        assert_eq!(iterations_to_hit(0.0, 0.1), None);
        assert!(chance_to_hit(0.05, 45) >= 0.9 && chance_to_hit(0.05, 44) < 0.9);
        assert!(close(chance_to_hit(0.1, 1), 0.1, 1e-12));
        assert_eq!(chance_to_hit(1.0, 1), 1.0);
        assert_eq!(chance_to_hit(0.1, 0), 0.0);
    }

    #[test]
    fn fisher_known_values() {
        // 10/30 vs 0/30: one-sided p = C(30,10) / C(60,10) = 30045015 / 75394027566.
        assert!(
            close(fisher_greater(10, 30, 0, 30), 30_045_015.0 / 75_394_027_566.0, 1e-9),
            "{}",
            fisher_greater(10, 30, 0, 30)
        );
        // Lady tasting tea: 3/4 vs 1/4 → 0.2429.
        assert!(close(fisher_greater(3, 4, 1, 4), 0.2429, 1e-3));
        // No difference: p = 1 at a = 0.
        assert!(close(fisher_greater(0, 10, 0, 10), 1.0, 1e-12));
        // 1/30 vs 0/30: p = 0.5.
        assert!(close(fisher_greater(1, 30, 0, 30), 0.5, 1e-9));
    }

    #[test]
    fn p_exactly_at_alpha_is_not_significant_and_prints_so() {
        // 3/3 against 0/3: exactly 1/C(6,3) = 1/20 = 0.05.
        let p = fisher_greater(3, 3, 0, 3);
        assert!(!significant(p, 0.05), "{p:e}");
        let shown = show_p(p, 0.05);
        assert!(shown.parse::<f64>().unwrap() >= 0.05, "{shown} reads as below 0.05");
        // 4/4 against 0/4: 1/70, and 3/3 against 0/4: 1/35, are below.
        for (p, want) in [(fisher_greater(4, 4, 0, 4), 1.0 / 70.0), (fisher_greater(3, 3, 0, 4), 1.0 / 35.0)] {
            assert!(close(p, want, 1e-12) && significant(p, 0.05), "{p:e}");
            assert!(show_p(p, 0.05).parse::<f64>().unwrap() < 0.05);
        }
        // Just below alpha by more than the margin: significant, printed below it.
        let p = 0.05 * (1.0 - 1e-6);
        assert!(significant(p, 0.05));
        assert!(show_p(p, 0.05).parse::<f64>().unwrap() < 0.05, "{}", show_p(p, 0.05));
        // Just above: not significant, printed at or above it.
        assert!(!significant(0.0500001, 0.05));
        assert!(show_p(0.0500001, 0.05).parse::<f64>().unwrap() >= 0.05);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7, 1, 3]), Some(3.0));
        assert_eq!(median(vec![4, 1, 3, 10]), Some(3.5));
    }
}
