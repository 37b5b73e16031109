//! A comparison of builds, as reported: each build's figures and a conclusion per candidate
//! (computed by the `compare` module).

use serde::{Deserialize, Serialize};

use super::reloads::ReloadCounts;
use super::stop::StopReason;
use crate::stats;

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
    /// What the figures say (worded by [`BuildStats::verdict_line`]).
    #[serde(deserialize_with = "crate::results::stop::typed_or_text")]
    pub verdict: BuildVerdict,
    /// Module reloads over the judged iterations.
    #[serde(default)]
    pub reloads: ReloadCounts,
    /// Median successful reloads per iteration, over the iterations whose every reload was
    /// counted (None when there is none: each panicked or rebooted before its loop reported).
    #[serde(default)]
    pub reloads_median: Option<f64>,
    /// Why it stopped (a sequential comparison: decided, a budget; `--until-panic`).
    #[serde(default, deserialize_with = "crate::results::stop::typed_or_text_opt")]
    pub stopped: Option<StopReason>,
    /// Whether it ran as a build of a sequential comparison (its verdict then says why it
    /// stopped).
    #[serde(default)]
    pub sequential: bool,
}

/// What one build's figures say about the hunted panic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BuildVerdict {
    /// No iteration ran to an outcome.
    NothingRan,
    /// The hunted panic came.
    Reproduces,
    /// Panics came, none of them the hunted one.
    OtherPanics,
    /// No panic at all.
    NoPanic,
    /// A verdict as a report written before verdicts were typed worded it (with why the
    /// build stopped).
    Said {
        /// Its words.
        text: String,
    },
}

impl From<String> for BuildVerdict {
    fn from(text: String) -> BuildVerdict {
        BuildVerdict::Said { text }
    }
}

impl BuildStats {
    /// The verdict in words, with the figures: "reproduces: 3/10 = 30% (95% CI ...)", "no
    /// panic in N runs: rate < X% at 95%", ...; a sequential comparison's build says why it
    /// stopped.
    pub fn verdict_line(&self) -> String {
        let (hits, n, panics) = (self.hits, self.iterations, self.panics);
        let below = stats::zero_hit_upper(n) * 100.0;
        let line = match &self.verdict {
            BuildVerdict::NothingRan => "no iteration ran to an outcome".into(),
            BuildVerdict::Reproduces => format!(
                "reproduces: {hits}/{n} = {:.0}% (95% CI {:.0}-{:.0}%)",
                self.rate * 100.0,
                self.ci95.0 * 100.0,
                self.ci95.1 * 100.0
            ),
            BuildVerdict::OtherPanics => {
                format!("no matching panic in {n} runs ({panics} other panics): rate < {below:.1}% at 95%")
            }
            BuildVerdict::NoPanic => format!("no panic in {n} runs: rate < {below:.1}% at 95%"),
            BuildVerdict::Said { text } => return text.clone(),
        };
        match (&self.stopped, self.sequential) {
            (Some(why), true) => format!("{line}; stopped: {why}"),
            _ => line,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn build(verdict: serde_json::Value, stopped: serde_json::Value) -> BuildStats {
        serde_json::from_value(serde_json::json!({"image": "fixed", "iterations": 7, "panics": 0, "hits": 0,
            "rate": 0.0, "ci95": [0.0, 0.348], "titles": [], "verdict": verdict, "stopped": stopped,
            "sequential": true}))
        .unwrap()
    }

    #[test]
    fn a_verdict_reads_back_typed_and_an_older_reports_text_as_it_was() {
        let b = build(serde_json::json!({"kind": "no_panic"}), serde_json::json!({"kind": "decided", "iterations": 7}));
        assert_eq!(b.verdict, BuildVerdict::NoPanic);
        let line = "no panic in 7 runs: rate < 34.8% at 95%; stopped: decided after 7 iterations per build";
        assert_eq!(b.verdict_line(), line);
        let again: BuildStats = serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap();
        assert_eq!(again.verdict_line(), line);
        let old = build(line.into(), "decided after 7 iterations per build".into());
        assert_eq!(old.verdict, BuildVerdict::Said { text: line.into() });
        assert_eq!(old.verdict_line(), line, "the older text, its stop reason not added twice");
    }
}
