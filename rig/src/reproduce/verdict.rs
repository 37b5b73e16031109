//! What a reproduction run found: the hunted crash (the case's `hunts:`, or any panic when it
//! hunts nothing) in some iteration, or not in N iterations, with the rate that rules out.

use crate::results::Outcome;
use crate::results::model::{CaseRun, IterationResult, RunReport};

/// The answer of a reproduction run.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The hunted crash came.
    Reproduced {
        /// The case.
        case: String,
        /// The image it ran on.
        image: String,
        /// The first iteration that hit it, as the report and its table number them.
        iteration: u32,
        /// Its title.
        title: String,
        /// Iterations that hit it, and iterations run, over the whole run.
        hits: u32,
        /// Iterations run.
        ran: u32,
    },
    /// It did not come in `ran` iterations (some may have ended otherwise: `other` panics,
    /// hangs or failures); a rate above `rate_ruled_out` would have shown with 95% probability.
    NotReproduced {
        /// Iterations run.
        ran: u32,
        /// Iterations that ended another way than a clean pass.
        other: u32,
        /// The 95% upper bound on the hit rate after no hit in `ran` iterations.
        rate_ruled_out: f64,
    },
}

/// The hunted crash's title when iteration `it` of `run` hit it (the case's `hunts:`, or any
/// panic when it hunts nothing).
pub fn hit<'a>(run: &CaseRun, it: &'a IterationResult) -> Option<&'a String> {
    match &it.outcome {
        Outcome::Panic { report: r, title, .. } => {
            run.hunts.as_ref().is_none_or(|h| h.matches_panic(r.as_ref(), title)).then_some(title)
        }
        _ => None,
    }
}

/// Judges a run's report (every case run in it).
pub fn judge(report: &RunReport) -> Answer {
    let (mut ran, mut other, mut first, mut hits) = (0, 0, None, 0);
    for run in &report.runs {
        for it in &run.iterations {
            ran += 1;
            match hit(run, it) {
                Some(title) => {
                    hits += 1;
                    first = first.or_else(|| Some((run.case.clone(), run.image.clone(), it.index, title.clone())));
                }
                None if !matches!(it.outcome, Outcome::Completed) => other += 1,
                None => {}
            }
        }
    }
    match first {
        Some((case, image, iteration, title)) => Answer::Reproduced { case, image, iteration, title, hits, ran },
        None => Answer::NotReproduced { ran, other, rate_ruled_out: crate::stats::zero_hit_upper(ran) },
    }
}

impl Answer {
    /// Iterations that hit the hunted crash, and iterations run.
    pub fn counts(&self) -> (u32, u32) {
        match self {
            Answer::Reproduced { hits, ran, .. } => (*hits, *ran),
            Answer::NotReproduced { ran, .. } => (0, *ran),
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Reproduced { case, image, iteration, title, hits, ran } => write!(
                f,
                "REPRODUCED: '{title}' in iteration {iteration} of {case} on {image} ({hits} of {ran} iterations hit it)"
            ),
            Answer::NotReproduced { ran, other, rate_ruled_out } => write!(
                f,
                "NOT REPRODUCED in {ran} iterations ({other} ended another way): a hit rate above {:.1}% is ruled out at 95%",
                100.0 * rate_ruled_out
            ),
        }
    }
}
