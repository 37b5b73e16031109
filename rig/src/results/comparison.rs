//! A comparison of builds, as reported: each build's figures and a conclusion per candidate
//! (computed by the `compare` module).

use serde::{Deserialize, Serialize};

use super::reloads::ReloadCounts;

/// One build's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildStats {
    /// The image.
    pub image: String,
    /// Iterations that ran to an outcome (infrastructure errors and skips excluded).
    pub iterations: u32,
    /// Panics of any kind.
    pub panics: u32,
    /// Panics matching the hunted signature.
    pub hits: u32,
    /// hits / iterations.
    pub rate: f64,
    /// 95% Wilson interval of the rate.
    pub ci95: (f64, f64),
    /// Distinct crash titles seen.
    pub titles: Vec<(String, u32)>,
    /// "reproduces ..." or "no panic in N runs: rate < X at 95%".
    pub verdict: String,
    /// Module reloads over the judged iterations.
    #[serde(default)]
    pub reloads: ReloadCounts,
    /// Median successful reloads per iteration, over the iterations whose every reload was
    /// counted (None when there is none: each panicked or rebooted before its loop reported).
    #[serde(default)]
    pub reloads_median: Option<f64>,
    /// Why it stopped (a sequential comparison: decided, a budget; `--until-panic`).
    #[serde(default)]
    pub stopped: Option<String>,
}

/// A comparison of builds for one case on one CPU model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// The case.
    pub case: String,
    /// The CPU model.
    pub cpu: String,
    /// What a hit is.
    pub hunts: String,
    /// The reference build first, then the candidates.
    pub builds: Vec<BuildStats>,
    /// One conclusion per candidate.
    pub conclusions: Vec<Conclusion>,
}

/// What a comparison concludes about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It no longer hits the bug, significantly, and its iterations ran the race.
    Fixed,
    /// It still hits the bug.
    NotFixed,
    /// The numbers cannot tell (too few iterations, a reference that did not reproduce).
    Inconclusive,
    /// Its iterations did not really reload (none, or far fewer than the reference's): clean
    /// runs of a race that never ran prove nothing.
    NotExercised,
}

impl Status {
    /// Its name in `report.json`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Fixed => "fixed",
            Status::NotFixed => "not_fixed",
            Status::Inconclusive => "inconclusive",
            Status::NotExercised => "not_exercised",
        }
    }
}

/// What the numbers say about one candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conclusion {
    /// The candidate image.
    pub candidate: String,
    /// The conclusion.
    pub status: Status,
    /// One-sided Fisher p-value that the reference hits more often than the candidate.
    pub p_value: Option<f64>,
    /// The sentence to print.
    pub text: String,
}
