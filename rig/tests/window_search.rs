//! The race-window search in simulation, no guests: over synthetic hit-rate curves (one rate
//! per sub-range), how often top-two Thompson sampling ends on the best sub-range, the
//! iterations it spends and the hits it gathers, against spreading the same iterations evenly.
//! Printed as a table (`--nocapture`). Asserted: it finds the best sub-range more often over
//! all curves (by more than the simulation's noise) and no less often on any curve, gathers
//! more hits on every curve, and the error it states per search is not optimistic by more than
//! a few points.

use rig::reproduce::window::{Thompson, spread_evenly};

/// Campaigns simulated per curve.
const TRIALS: u64 = 2000;

/// Iterations each search may spend per curve (12 per sub-range of 8).
const BUDGET: u32 = 96;

/// Synthetic curves: a hit rate per sub-range, as a race window would shape them.
const CURVES: &[(&str, [f64; 8])] = &[
    ("narrow window", [0.01, 0.01, 0.02, 0.30, 0.08, 0.01, 0.01, 0.01]),
    ("rare window", [0.0, 0.0, 0.0, 0.0, 0.0, 0.15, 0.03, 0.0]),
    ("broad hill", [0.05, 0.10, 0.20, 0.35, 0.22, 0.12, 0.05, 0.02]),
    ("two peaks", [0.02, 0.30, 0.05, 0.02, 0.02, 0.05, 0.15, 0.02]),
];

#[derive(Default)]
struct Tally {
    found: u64,
    spent: u64,
    hits: u64,
    stated_error: f64,
}

impl Tally {
    fn rate(&self) -> f64 {
        self.found as f64 / TRIALS as f64
    }
    fn per(&self, x: u64) -> f64 {
        x as f64 / TRIALS as f64
    }
}

fn simulate(rates: &[f64; 8], adaptive: bool) -> Tally {
    let best = (0..8).max_by(|&a, &b| rates[a].total_cmp(&rates[b])).unwrap();
    let mut t = Tally::default();
    for trial in 0..TRIALS {
        let mut rng = fastrand::Rng::with_seed(7919 * trial + 1);
        let mut hits = 0u64;
        let mut pull = |arm: usize| {
            let hit = rng.f64() < rates[arm];
            hits += u64::from(hit);
            hit
        };
        let (got, spent) = if adaptive {
            let mut s = Thompson::new(8, trial);
            let got = s.run(BUDGET, &mut pull);
            t.stated_error += s.error(400) / TRIALS as f64;
            (got, s.arms().iter().map(|a| a.tries).sum::<u32>())
        } else {
            let (got, arms) = spread_evenly(8, BUDGET, trial, &mut pull);
            (got, arms.iter().map(|a| a.tries).sum())
        };
        t.found += u64::from(got == best);
        t.spent += u64::from(spent);
        t.hits += hits;
    }
    t
}

/// Two standard errors of the difference of two proportions over [`TRIALS`] each.
fn noise(p: f64, q: f64) -> f64 {
    2.0 * ((p * (1.0 - p) + q * (1.0 - q)) / TRIALS as f64).sqrt()
}

#[test]
fn thompson_sampling_finds_the_window_more_often_than_an_even_spread_and_hits_more() {
    println!(
        "{:<14} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>13}",
        "curve", "found: TS", "even", "it: TS", "even", "hits: TS", "even", "stated error"
    );
    let (mut all_t, mut all_e) = (0u64, 0u64);
    for (name, rates) in CURVES {
        let t = simulate(rates, true);
        let e = simulate(rates, false);
        println!(
            "{name:<14} {:>8.1}% {:>8.1}% {:>8.1} {:>8.1} {:>9.2} {:>9.2} {:>12.1}%",
            100.0 * t.rate(),
            100.0 * e.rate(),
            t.per(t.spent),
            e.per(e.spent),
            t.per(t.hits),
            e.per(e.hits),
            100.0 * t.stated_error
        );
        assert_eq!(t.spent, e.spent, "{name}: the same iterations");
        assert!(
            t.rate() + noise(t.rate(), e.rate()) > e.rate(),
            "{name}: found the best less often than the even spread"
        );
        assert!(t.hits > e.hits, "{name}: gathered fewer hits than the even spread");
        let actual = 1.0 - t.rate();
        assert!(t.stated_error + 0.05 > actual, "{name}: stated error {:.3} against {actual:.3}", t.stated_error);
        all_t += t.found;
        all_e += e.found;
    }
    let n = (CURVES.len() as u64 * TRIALS) as f64;
    let (p, q) = (all_t as f64 / n, all_e as f64 / n);
    println!("over all curves: {:.1}% against {:.1}%", 100.0 * p, 100.0 * q);
    assert!(p - q > 2.0 * ((p * (1.0 - p) + q * (1.0 - q)) / n).sqrt(), "not better beyond noise: {p:.3} vs {q:.3}");
}
