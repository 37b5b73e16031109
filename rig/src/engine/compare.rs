//! Buggy versus fixed: per build, the hit rate of the hunted panic with its 95% interval, and
//! between the reference build and each candidate, Fisher's exact test, so "fixed" is a claim
//! with a number. Pure: works on the finished runs.

use serde::{Deserialize, Serialize};

use super::outcome::Outcome;
use crate::case::model::Signature;
use crate::report::CaseRun;
use crate::stats;

/// Significance level for "fixed".
pub const ALPHA: f64 = 0.05;

/// Whether an outcome is a panic matching `sig` (any panic when `sig` is None).
pub fn matches(sig: Option<&Signature>, o: &Outcome) -> bool {
    let Outcome::Panic { report, title, .. } = o else { return false };
    sig.is_none_or(|s| s.matches_panic(report.as_ref(), title))
}

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

/// What the numbers say about one candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conclusion {
    /// The candidate image.
    pub candidate: String,
    /// `fixed`, `not_fixed` or `inconclusive`.
    pub status: String,
    /// One-sided Fisher p-value that the reference hits more often than the candidate.
    pub p_value: Option<f64>,
    /// The sentence to print.
    pub text: String,
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
    let judged: Vec<&Outcome> = run
        .iterations
        .iter()
        .map(|i| &i.outcome)
        .filter(|o| !matches!(o, Outcome::Infra { .. } | Outcome::Skipped { .. }))
        .collect();
    let n = judged.len() as u32;
    let hits = judged.iter().filter(|o| matches(sig, o)).count() as u32;
    let panics = judged.iter().filter(|o| matches!(o, Outcome::Panic { .. })).count() as u32;
    let ci95 = stats::wilson(hits, n);
    let rate = if n == 0 { 0.0 } else { f64::from(hits) / f64::from(n) };
    let verdict = if n == 0 {
        "no iteration ran to an outcome".into()
    } else if hits > 0 {
        format!("reproduces: {hits}/{n} = {:.0}% (95% CI {:.0}-{:.0}%)", rate * 100.0, ci95.0 * 100.0, ci95.1 * 100.0)
    } else if panics > 0 {
        format!(
            "no matching panic in {n} runs ({panics} other panics): rate < {:.1}% at 95%",
            stats::zero_hit_upper(n) * 100.0
        )
    } else {
        format!("no panic in {n} runs: rate < {:.1}% at 95%", stats::zero_hit_upper(n) * 100.0)
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
    }
}

/// Compares `runs` (same case and CPU; the first is the reference).
pub fn compare(runs: &[&CaseRun], sig: Option<&Signature>) -> Comparison {
    let builds: Vec<BuildStats> = runs.iter().map(|r| build_stats(r, sig)).collect();
    let reference = &builds[0];
    let conclusions = builds[1..]
        .iter()
        .map(|cand| {
            let p = stats::fisher_greater(reference.hits, reference.iterations, cand.hits, cand.iterations);
            let (status, text) = if cand.iterations == 0 || reference.iterations == 0 {
                ("inconclusive", "inconclusive: a build ran no iteration to an outcome".to_string())
            } else if cand.hits > 0 {
                ("not_fixed", format!("NOT FIXED: {} still hits it ({}/{})", cand.image, cand.hits, cand.iterations))
            } else if reference.hits == 0 {
                (
                    "inconclusive",
                    format!(
                        "inconclusive: the reference {} did not reproduce in {} runs, so {}'s clean runs prove nothing",
                        reference.image, reference.iterations, cand.image
                    ),
                )
            } else if p < ALPHA {
                (
                    "fixed",
                    format!(
                        "FIXED: {} 0/{} against {} {}/{}; Fisher's exact test p = {p:.2e} (< {ALPHA})",
                        cand.image, cand.iterations, reference.image, reference.hits, reference.iterations
                    ),
                )
            } else {
                (
                    "inconclusive",
                    format!(
                        "inconclusive: {} 0/{} against {} {}/{} is not significant (p = {p:.3}); run more iterations",
                        cand.image, cand.iterations, reference.image, reference.hits, reference.iterations
                    ),
                )
            };
            Conclusion { candidate: cand.image.clone(), status: status.into(), p_value: Some(p), text }
        })
        .collect();
    Comparison { case: runs[0].case.clone(), cpu: runs[0].cpu.clone(), hunts: describe(sig), builds, conclusions }
}
