//! Narrowing the race window, pure: a search runs in levels, each a top-two Thompson search
//! ([`Thompson`]) over the sub-ranges of the previous level's best, until the hit rate stops
//! rising (or the best hit nothing, or it cannot be split further). The window found is the
//! best sub-range of the level whose best rate was highest.

use super::window::{Arm, Thompson, sub_ranges};
use crate::case::model::{Explore, Jitter};

/// The most levels a search narrows through.
pub const MAX_LEVELS: usize = 3;

/// One finished level: its sub-ranges, what each found, and the best.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// The bounds it split.
    pub bounds: Explore,
    /// Its sub-ranges, lowest first.
    pub subs: Vec<Jitter>,
    /// Hits and iterations per sub-range.
    pub arms: Vec<Arm>,
    /// The best sub-range (highest posterior mean).
    pub best: usize,
    /// The posterior chance that another sub-range is better than `best`.
    pub error: f64,
}

impl Level {
    /// The best sub-range's range.
    pub fn window(&self) -> Jitter {
        self.subs[self.best]
    }

    /// The best sub-range's counts.
    pub fn best_arm(&self) -> Arm {
        self.arms[self.best]
    }
}

/// Why the narrowing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The last level's best hit nothing: no window.
    NoHit,
    /// The last level's best rate was no higher than the level before's.
    StoppedRising,
    /// The best sub-range is too narrow to split again.
    TooNarrow,
    /// [`MAX_LEVELS`] levels ran.
    Levels,
}

/// The bounds of the level after one whose best sub-range is `best`: the same split inside
/// it, or `None` when it is narrower than 1 ms per sub-range.
pub fn inside(best: Jitter, split: u32) -> Option<Explore> {
    (best.max_ms.saturating_sub(best.min_ms) >= u64::from(split) * 2).then_some(Explore {
        min_ms: best.min_ms,
        max_ms: best.max_ms,
        split,
    })
}

/// Whether the narrowing goes on after `levels`: `None` to go on, or why it stops.
pub fn stop(levels: &[Level]) -> Option<Stop> {
    let last = levels.last()?;
    if last.best_arm().hits == 0 {
        return Some(Stop::NoHit);
    }
    if let [.., before, _] = levels
        && last.best_arm().rate() <= before.best_arm().rate()
    {
        return Some(Stop::StoppedRising);
    }
    if levels.len() >= MAX_LEVELS {
        return Some(Stop::Levels);
    }
    if inside(last.window(), last.bounds.split).is_none() {
        return Some(Stop::TooNarrow);
    }
    None
}

/// The level whose best sub-range had the highest hit rate (the first such): the window found.
pub fn found(levels: &[Level]) -> Option<&Level> {
    levels.iter().rev().max_by(|x, y| x.best_arm().rate().total_cmp(&y.best_arm().rate()))
}

/// Runs a whole narrowing in one go: `per_level` iterations per level from `bounds` on, each
/// iteration `pull(range)` (did an iteration with the timing in `range` hit?). For simulations
/// and tests; `cargo xtask reproduce` drives the same levels with guests.
pub fn run(bounds: Explore, per_level: u32, seed: u64, pull: &mut dyn FnMut(Jitter) -> bool) -> (Vec<Level>, Stop) {
    let mut levels: Vec<Level> = Vec::new();
    let mut at = bounds;
    loop {
        let subs = sub_ranges(at);
        let mut ts = Thompson::new(subs.len(), seed.wrapping_add(levels.len() as u64));
        ts.run(per_level, &mut |arm| pull(subs[arm]));
        levels.push(level(at, subs, &mut ts));
        if let Some(why) = stop(&levels) {
            return (levels, why);
        }
        let last = &levels[levels.len() - 1];
        at = inside(last.window(), at.split).unwrap_or(at);
    }
}

/// A finished level from its search.
pub fn level(bounds: Explore, subs: Vec<Jitter>, ts: &mut Thompson) -> Level {
    Level { bounds, subs, arms: ts.arms().to_vec(), best: ts.best(), error: ts.error(4000) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window 200..300 ms wide inside 0..4000: each level's rate is the overlap share.
    fn hits(r: Jitter, rng: &mut fastrand::Rng) -> bool {
        let (lo, hi) = (r.min_ms.max(1700) as f64, r.max_ms.min(1900) as f64);
        let share = ((hi - lo) / (r.max_ms - r.min_ms) as f64).max(0.0);
        rng.f64() < share
    }

    #[test]
    fn it_narrows_into_the_window_until_the_rate_stops_rising() {
        let mut rng = fastrand::Rng::with_seed(7);
        let bounds = Explore { min_ms: 0, max_ms: 4000, split: 4 };
        let (levels, why) = run(bounds, 24, 3, &mut |r| hits(r, &mut rng));
        assert!(levels.len() >= 2, "{levels:#?}");
        assert_eq!(levels[0].window(), Jitter::new(1000, 2000), "{levels:#?}");
        assert_eq!(levels[1].bounds, Explore { min_ms: 1000, max_ms: 2000, split: 4 });
        let w = found(&levels).unwrap().window();
        assert!(w.min_ms >= 1500 && w.max_ms <= 2000, "the window is inside 1500..2000: {w:?}");
        assert!(matches!(why, Stop::StoppedRising | Stop::Levels | Stop::TooNarrow), "{why:?}");
    }

    #[test]
    fn a_level_that_hits_nothing_stops_it_and_narrow_ranges_are_not_split() {
        let (levels, why) = run(Explore { min_ms: 0, max_ms: 100, split: 4 }, 8, 1, &mut |_| false);
        assert_eq!((levels.len(), why), (1, Stop::NoHit));
        assert!(found(&levels).is_some_and(|l| l.best_arm().hits == 0));
        assert_eq!(inside(Jitter::new(10, 17), 4), None);
        assert_eq!(inside(Jitter::new(10, 18), 4), Some(Explore { min_ms: 10, max_ms: 18, split: 4 }));
        assert_eq!(super::sub_ranges(Explore { min_ms: 0, max_ms: 10, split: 3 }).last(), Some(&Jitter::new(6, 10)));
    }
}
