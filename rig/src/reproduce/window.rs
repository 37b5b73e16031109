//! The race-window search, pure: the timings a case marks `explore:` (sleep ranges and race
//! offsets, each with bounds), split into sub-ranges, and an adaptive allocation of iterations
//! among them: top-two Thompson sampling ([`Thompson`]).
//!
//! Its error rate, the chance that the sub-range it names is not the one with the highest hit
//! rate, is stated per search as the posterior probability of that ([`Thompson::error`], under
//! a uniform prior on each rate), and measured in `rig/tests/window_search.rs` over synthetic
//! rate curves against spreading the same iterations evenly. Successive halving was tried
//! first and dropped: at the budgets a guest affords (12 iterations per sub-range) its first
//! round gives each sub-range 4 iterations, and a window that hits 15% of the time shows no hit
//! in half of such rounds and is halved away; it found the best sub-range less often than the
//! even spread (70% against 81% on a rare window).

use crate::case::model::{Explore, Jitter};
use crate::case::{Case, Step, StepKind};

/// A timing a case marks as searchable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knob {
    /// Where it is, as the case loader names places (`steps[0].background.steps[1].sleep`).
    pub path: String,
    /// Its range in the case.
    pub range: Jitter,
    /// Where the search may move it.
    pub bounds: Explore,
}

impl Knob {
    /// Its bounds split into `bounds.split` equal sub-ranges, lowest first (the last takes the
    /// remainder), each a plain range.
    pub fn sub_ranges(&self) -> Vec<Jitter> {
        sub_ranges(self.bounds)
    }
}

/// `bounds` split into `bounds.split` equal sub-ranges, lowest first (the last takes the
/// remainder), each a plain range.
pub fn sub_ranges(bounds: Explore) -> Vec<Jitter> {
    let Explore { min_ms, max_ms, split } = bounds;
    let width = (max_ms - min_ms) / u64::from(split);
    (0..u64::from(split))
        .map(|i| {
            let lo = min_ms + i * width;
            let hi = if i + 1 == u64::from(split) { max_ms } else { lo + width };
            Jitter::new(lo, hi)
        })
        .collect()
}

/// The explorable timings of a case's iteration steps, in the order they appear.
pub fn knobs(case: &Case) -> Vec<Knob> {
    let mut out = Vec::new();
    let mut steps = case.steps.0.clone();
    visit(&mut steps, "steps", &mut |path, j| {
        if let Some(bounds) = j.explore {
            out.push(Knob { path: path.to_string(), range: *j, bounds });
        }
    });
    out
}

/// The case with the timing at `path` narrowed to `range` (no longer explorable), for a run
/// of one sub-range or the narrowed case written beside the original. `None` if no timing is
/// at `path`.
pub fn with_range(case: &Case, path: &str, range: Jitter) -> Option<Case> {
    let mut out = case.clone();
    let mut found = false;
    visit(&mut out.steps.0, "steps", &mut |p, j| {
        if p == path {
            *j = range;
            found = true;
        }
    });
    found.then_some(out)
}

/// [`with_range`] as case YAML, for a file the case loader reads back.
pub fn narrowed_yaml(case: &Case, path: &str, range: Jitter) -> Option<String> {
    serde_norway::to_string(&with_range(case, path, range)?).ok()
}

/// The case narrowed to the window found, as YAML, named `<case>-window` so that it can stand
/// beside the original.
pub fn window_yaml(case: &Case, path: &str, range: Jitter) -> Option<String> {
    let mut c = with_range(case, path, range)?;
    c.name = format!("{}-window", case.name);
    serde_norway::to_string(&c).ok()
}

/// The index of the iteration step a knob is, when it is a sleep of the iteration's own steps
/// (`steps[3].sleep`), whose slept time each iteration records: such a knob can be searched by
/// binning ([`binned`]).
pub fn top_level_sleep(path: &str) -> Option<usize> {
    path.strip_prefix("steps[")?.strip_suffix("].sleep")?.parse().ok()
}

/// The hits and iterations per sub-range of a run whose iteration step `step` slept within
/// them: each iteration counted in the sub-range its recorded sleep fell in (the last takes
/// its end). `None` when no iteration recorded that sleep.
pub fn binned(report: &crate::results::model::RunReport, step: usize, subs: &[Jitter]) -> Option<Vec<Arm>> {
    use crate::results::step::StepDetail;
    let mut arms = vec![Arm::default(); subs.len()];
    let mut any = false;
    for run in &report.runs {
        for it in &run.iterations {
            // A restore from the saved VM state is recorded before the case's own steps.
            let mut own = it.steps.iter().filter(|s| !matches!(s.detail, Some(StepDetail::Restored { .. })));
            let Some(StepDetail::Slept { ms }) = own.nth(step).and_then(|s| s.detail.clone()) else { continue };
            let Some(i) = subs
                .iter()
                .position(|r| r.min_ms <= ms && ms < r.max_ms)
                .or_else(|| subs.last().filter(|r| ms == r.max_ms).map(|_| subs.len() - 1))
            else {
                continue;
            };
            any = true;
            arms[i].tries += 1;
            arms[i].hits += u32::from(super::verdict::hit(run, it).is_some());
        }
    }
    any.then_some(arms)
}

/// Calls `f` with the path and the range of every sleep and race offset, nested ones included.
fn visit(steps: &mut [Step], at: &str, f: &mut dyn FnMut(&str, &mut Jitter)) {
    for (i, s) in steps.iter_mut().enumerate() {
        let here = format!("{at}[{i}]");
        match &mut s.kind {
            StepKind::Sleep(j) => f(&format!("{here}.sleep"), j),
            StepKind::Background(b) => visit(&mut b.steps.0, &format!("{here}.background.steps"), f),
            StepKind::Repeat(r) => visit(&mut r.steps.0, &format!("{here}.repeat.steps"), f),
            StepKind::Race(r) => {
                f(&format!("{here}.race.offset_ms"), &mut r.offset_ms);
                for (k, b) in r.branches.iter_mut().enumerate() {
                    visit(&mut b.0, &format!("{here}.race.branches[{k}]"), f);
                }
            }
            _ => {}
        }
    }
}

/// Hits and iterations of one sub-range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Arm {
    /// Iterations that hit the hunted signature.
    pub hits: u32,
    /// Iterations run.
    pub tries: u32,
}

impl Arm {
    /// Its hit rate so far (0 before any iteration).
    pub fn rate(&self) -> f64 {
        if self.tries == 0 { 0.0 } else { f64::from(self.hits) / f64::from(self.tries) }
    }
}

/// The baseline: `budget` iterations spread evenly over `arms` sub-ranges, the best by hit
/// rate (ties at random from `seed`). Returns it and the arms' counts.
pub fn spread_evenly(arms: usize, budget: u32, seed: u64, pull: &mut dyn FnMut(usize) -> bool) -> (usize, Vec<Arm>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let each = (budget / arms.max(1) as u32).max(1);
    let counts: Vec<Arm> =
        (0..arms).map(|a| Arm { hits: (0..each).filter(|_| pull(a)).count() as u32, tries: each }).collect();
    let best =
        (0..arms).map(|a| (counts[a].rate(), rng.u64(..), a)).max_by(|x, y| x.0.total_cmp(&y.0).then(y.1.cmp(&x.1)));
    (best.map_or(0, |b| b.2), counts)
}

/// Top-two Thompson sampling (Russo 2016) over sub-ranges: after one iteration of each, each
/// iteration draws every sub-range's hit rate from its Beta posterior (uniform prior), and runs
/// the sub-range whose draw is highest, or half the time the best challenger of another draw;
/// the answer is the sub-range with the highest posterior mean. Its error rate is stated per search:
/// [`Thompson::error`], the posterior probability that another sub-range's rate is higher.
#[derive(Debug, Clone)]
pub struct Thompson {
    arms: Vec<Arm>,
    rng: fastrand::Rng,
}

impl Thompson {
    /// A search over `arms` sub-ranges (at least 1); `seed` drives its draws.
    pub fn new(arms: usize, seed: u64) -> Thompson {
        Thompson { arms: vec![Arm::default(); arms.max(1)], rng: fastrand::Rng::with_seed(seed) }
    }

    /// The sub-range to run next.
    pub fn choose(&mut self) -> usize {
        // Every sub-range once first: a small budget otherwise leaves some never run.
        if let Some(untried) = self.arms.iter().position(|a| a.tries == 0) {
            return untried;
        }
        let leader = self.draw_best();
        if self.rng.bool() {
            return leader;
        }
        for _ in 0..64 {
            let challenger = self.draw_best();
            if challenger != leader {
                return challenger;
            }
        }
        leader
    }

    /// Records one iteration of sub-range `arm`.
    pub fn record(&mut self, arm: usize, hit: bool) {
        self.arms[arm].tries += 1;
        self.arms[arm].hits += u32::from(hit);
    }

    /// The answer so far: the highest posterior mean, `(hits + 1) / (tries + 2)`.
    pub fn best(&self) -> usize {
        let mean = |a: &Arm| f64::from(a.hits + 1) / f64::from(a.tries + 2);
        (0..self.arms.len()).max_by(|&x, &y| mean(&self.arms[x]).total_cmp(&mean(&self.arms[y]))).unwrap_or(0)
    }

    /// The posterior probability that [`Thompson::best`] is not the best sub-range, from
    /// `draws` joint draws.
    pub fn error(&mut self, draws: u32) -> f64 {
        let best = self.best();
        let wrong = (0..draws).filter(|_| self.draw_best() != best).count();
        wrong as f64 / f64::from(draws.max(1))
    }

    /// Every sub-range's hits and iterations.
    pub fn arms(&self) -> &[Arm] {
        &self.arms
    }

    /// Runs `budget` iterations with `pull` (one iteration of sub-range `arm`: did it hit?).
    pub fn run(&mut self, budget: u32, pull: &mut dyn FnMut(usize) -> bool) -> usize {
        for _ in 0..budget {
            let arm = self.choose();
            let hit = pull(arm);
            self.record(arm, hit);
        }
        self.best()
    }

    fn draw_best(&mut self) -> usize {
        let mut best = (f64::MIN, 0);
        for i in 0..self.arms.len() {
            let a = self.arms[i];
            let x = beta(&mut self.rng, f64::from(a.hits + 1), f64::from(a.tries - a.hits + 1));
            if x > best.0 {
                best = (x, i);
            }
        }
        best.1
    }
}

/// A Beta(a, b) draw, from two Gamma draws.
fn beta(rng: &mut fastrand::Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

/// A Gamma(shape, 1) draw for shape ≥ 1 (Marsaglia and Tsang 2000).
fn gamma(rng: &mut fastrand::Rng, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = normal(rng);
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.f64();
        if u.max(f64::MIN_POSITIVE).ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u = rng.f64().max(f64::MIN_POSITIVE);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(yaml: &str) -> Case {
        crate::case::parse(yaml).unwrap_or_else(|e| panic!("{e:?}"))
    }

    const CASE: &str = "name: x\nsteps:\n  - background:\n      steps:\n        - reload_module: vmm\n        - sleep: { min_ms: 150, max_ms: 450, explore: { min_ms: 0, max_ms: 1000, split: 3 } }\n  - race:\n      offset_ms: { min_ms: 0, max_ms: 200, explore: { min_ms: 0, max_ms: 800 } }\n      branches:\n        - - sleep: { min_ms: 0, max_ms: 10 }\n        - - reboot: ssh\n";

    #[test]
    fn knobs_are_found_with_their_paths_and_split() {
        let c = case(CASE);
        let k = knobs(&c);
        let paths: Vec<&str> = k.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(paths, ["steps[0].background.steps[1].sleep", "steps[1].race.offset_ms"]);
        assert_eq!(k[0].sub_ranges(), [Jitter::new(0, 333), Jitter::new(333, 666), Jitter::new(666, 1000)]);
        assert_eq!(k[1].sub_ranges().len(), 4, "split defaults to 4");
        let narrowed = with_range(&c, &k[1].path, Jitter::new(200, 400)).unwrap();
        let k2 = knobs(&narrowed);
        assert_eq!(k2.len(), 1, "the narrowed timing is no longer explorable");
        assert!(with_range(&c, "steps[9].sleep", Jitter::new(0, 1)).is_none());
        assert_eq!(top_level_sleep("steps[3].sleep"), Some(3));
        assert_eq!(top_level_sleep(&k[0].path), None, "a background loop's sleep is not recorded per iteration");
        assert_eq!(top_level_sleep(&k[1].path), None);
        let yaml = narrowed_yaml(&c, &k[1].path, Jitter::new(200, 400)).unwrap();
        assert_eq!(knobs(&case(&yaml)), knobs(&narrowed), "the narrowed case loads again:\n{yaml}");
    }

    #[test]
    fn thompson_moves_iterations_to_the_sub_range_that_hits() {
        let mut t = Thompson::new(4, 1);
        let best = t.run(60, &mut |arm| arm == 2);
        assert_eq!(best, 2);
        assert!(t.arms()[2].tries > 30, "{:?}", t.arms());
        assert_eq!(t.arms().iter().map(|a| a.tries).sum::<u32>(), 60);
        assert!(t.error(2000) < 0.05, "{}", t.error(2000));
        let mut blind = Thompson::new(4, 1);
        blind.run(40, &mut |_| false);
        let e = blind.error(2000);
        assert!(e > 0.5, "nothing learnt, so most likely wrong: {e}");
    }

    #[test]
    fn beta_draws_have_the_right_mean() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mean = (0..20_000).map(|_| beta(&mut rng, 3.0, 9.0)).sum::<f64>() / 20_000.0;
        assert!((mean - 0.25).abs() < 0.01, "{mean}");
    }
}
