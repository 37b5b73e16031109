//! Why a case × CPU × image stopped taking iterations, as a value: a sequential comparison
//! decided, a budget ran out, the reference stopped, `--until-panic` found (or did not find)
//! its panic. Worded only where it is printed; `report.json` keeps it typed and still reads
//! the reasons older reports wrote as text.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a build stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// A sequential comparison decided this candidate fixed after so many iterations per build.
    Decided {
        /// Iterations per build.
        iterations: u32,
    },
    /// A sequential comparison decided this candidate not fixed: it hit at this iteration.
    DecidedAtHit {
        /// The iteration that hit.
        iteration: u32,
    },
    /// A sequential comparison decided that the race cannot run on this candidate: none of its
    /// first judged iterations completed a reload ([`crate::results::judged::not_exercised`]).
    NotExercised {
        /// Judged iterations it was decided after.
        iterations: u32,
    },
    /// The reference: every candidate decided or stopped.
    CandidatesDone,
    /// Its iteration budget ran out.
    Budget {
        /// The budget.
        iterations: u32,
    },
    /// The comparison's time budget ran out.
    TimeBudget {
        /// The budget, in seconds.
        secs: u64,
    },
    /// The reference stopped for its own reason, which ends the comparison.
    ReferenceStopped {
        /// Why the reference stopped.
        why: Box<StopReason>,
    },
    /// The case's run deadline passed.
    RunDeadline {
        /// The deadline, in seconds.
        secs: u64,
    },
    /// It did not run at all.
    NotRun {
        /// The outcome's word (`skipped`, `infra`).
        what: String,
    },
    /// Its iterations ended.
    IterationsEnded,
    /// `--until-panic`: the first matching panic came at this iteration.
    FirstMatch {
        /// The iteration.
        iteration: u32,
    },
    /// `--until-panic`: no matching panic in the iterations it had.
    NoMatch {
        /// The title hunted (None: the case's hunted signature).
        wanted: Option<String>,
        /// Iterations that ran.
        iterations: u32,
        /// The panic titles seen instead.
        seen: Vec<String>,
    },
    /// A reason as a report written before reasons were typed worded it.
    Said {
        /// Its words.
        text: String,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Decided { iterations } => write!(f, "decided after {iterations} iterations per build"),
            StopReason::DecidedAtHit { iteration } => write!(f, "decided: hit at its iteration {iteration}"),
            StopReason::NotExercised { iterations } => {
                write!(f, "not exercised: no reload completed in its first {iterations} judged iterations")
            }
            StopReason::CandidatesDone => f.write_str("every candidate decided or stopped"),
            StopReason::Budget { iterations } => write!(f, "budget: {iterations} iterations"),
            StopReason::TimeBudget { secs } => write!(f, "time budget: {secs} s"),
            StopReason::ReferenceStopped { why } => write!(f, "the reference stopped ({why})"),
            StopReason::RunDeadline { secs } => write!(f, "the run deadline ({secs} s) passed"),
            StopReason::NotRun { what } => write!(f, "it did not run ({what})"),
            StopReason::IterationsEnded => f.write_str("its iterations ended"),
            StopReason::FirstMatch { iteration } => {
                write!(f, "--until-panic: first matching panic at iteration {iteration}")
            }
            StopReason::NoMatch { wanted, iterations, seen } => {
                let wanted = wanted.as_deref().map_or("the hunted signature".into(), |t| format!("'{t}'"));
                let below = crate::stats::zero_hit_upper(*iterations) * 100.0;
                write!(f, "--until-panic: no panic matching {wanted} in {iterations} iterations")?;
                write!(f, " (its rate is below {below:.1}% at 95%)")?;
                if !seen.is_empty() {
                    write!(f, " (seen: {})", seen.join("; "))?;
                }
                Ok(())
            }
            StopReason::Said { text } => f.write_str(text),
        }
    }
}

impl From<String> for StopReason {
    fn from(text: String) -> StopReason {
        StopReason::Said { text }
    }
}

/// A value as this version writes it, or as text as older reports wrote it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written<T> {
    Typed(T),
    Text(String),
}

impl<T: From<String>> Written<T> {
    fn value(self) -> T {
        match self {
            Written::Typed(t) => t,
            Written::Text(s) => T::from(s),
        }
    }
}

/// Reads a field written typed, or as text by a report from before it was typed (for
/// `#[serde(deserialize_with)]`).
pub fn typed_or_text<'de, D: Deserializer<'de>, T: Deserialize<'de> + From<String>>(d: D) -> Result<T, D::Error> {
    Written::<T>::deserialize(d).map(Written::value)
}

/// [`typed_or_text`] for an optional field.
pub fn typed_or_text_opt<'de, D: Deserializer<'de>, T: Deserialize<'de> + From<String>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<Written<T>>::deserialize(d).map(|w| w.map(Written::value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Run {
        #[serde(default, deserialize_with = "typed_or_text_opt")]
        stopped: Option<StopReason>,
    }

    fn read(json: &str) -> Option<StopReason> {
        serde_json::from_str::<Run>(json).unwrap_or_else(|e| panic!("{json}: {e}")).stopped
    }

    #[test]
    fn reasons_read_back_typed_and_older_reports_text_is_kept() {
        let why = StopReason::ReferenceStopped { why: Box::new(StopReason::RunDeadline { secs: 60 }) };
        let json = format!("{{\"stopped\": {}}}", serde_json::to_string(&why).unwrap());
        assert_eq!(read(&json), Some(why.clone()));
        assert_eq!(why.to_string(), "the reference stopped (the run deadline (60 s) passed)");
        let old = read("{\"stopped\": \"budget: 3 iterations\"}").unwrap();
        assert_eq!(old, StopReason::Said { text: "budget: 3 iterations".into() });
        assert_eq!(old.to_string(), StopReason::Budget { iterations: 3 }.to_string());
        assert_eq!(read("{\"stopped\": null}"), None);
        assert_eq!(read("{}"), None);
        assert!(serde_json::from_str::<Run>("{\"stopped\": 3}").is_err());
    }

    #[test]
    fn until_panic_reasons_read_as_before() {
        let none =
            StopReason::NoMatch { wanted: Some("BUG".into()), iterations: 10, seen: vec!["a".into(), "b".into()] };
        let text = none.to_string();
        assert!(
            text.starts_with("--until-panic: no panic matching 'BUG' in 10 iterations (its rate is below "),
            "{text}"
        );
        assert!(text.ends_with("% at 95%) (seen: a; b)"), "{text}");
        let hunted = StopReason::NoMatch { wanted: None, iterations: 10, seen: vec![] };
        assert!(
            hunted.to_string().contains("matching the hunted signature in 10") && !hunted.to_string().contains("seen")
        );
        assert_eq!(
            StopReason::FirstMatch { iteration: 4 }.to_string(),
            "--until-panic: first matching panic at iteration 4"
        );
    }
}
