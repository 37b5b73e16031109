//! Why a case × CPU × image stopped taking iterations, as a value: a sequential comparison
//! decided, a budget ran out, the reference stopped, `--until-panic` found (or did not find)
//! its panic; why a whole run stopped early (a signal, a case's run deadline, a shard of a
//! merge). Worded only where it is printed; `report.json` keeps a build's reason typed, writes
//! the run's as the text it always had, and still reads the reasons older reports wrote as text.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a signal's stop says (Ctrl-C, SIGTERM or SIGHUP).
const INTERRUPTED_BY_SIGNAL: &str = "interrupted (Ctrl-C, SIGTERM or SIGHUP)";

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
    /// The whole run: a signal stopped it.
    Interrupted,
    /// The whole run: one case × CPU stopped it (its run deadline passed).
    On {
        /// The case.
        case: String,
        /// The CPU model.
        cpu: String,
        /// Why.
        why: Box<StopReason>,
    },
    /// A merged run: one shard of it stopped early.
    Shard {
        /// The shard's report, as the merge names it.
        name: String,
        /// Why it stopped.
        why: Box<StopReason>,
    },
    /// A merged run: several shards stopped early.
    Several {
        /// Each one's reason, in the merge's order.
        reasons: Vec<StopReason>,
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
            StopReason::Interrupted => f.write_str(INTERRUPTED_BY_SIGNAL),
            StopReason::On { case, cpu, why } => write!(f, "{case} on {cpu}: {why}"),
            StopReason::Shard { name, why } => write!(f, "shard {name} stopped early: {why}"),
            StopReason::Several { reasons } => {
                let all: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                f.write_str(&all.join("; "))
            }
            StopReason::Said { text } => f.write_str(text),
        }
    }
}

impl StopReason {
    /// Whether a signal stopped the run (as this version says it, or as an older report
    /// worded it: `interrupted (...)`), not a deadline nor a shard of a merge.
    pub fn is_interrupted(&self) -> bool {
        match self {
            StopReason::Interrupted => true,
            StopReason::Said { text } => text.starts_with("interrupted"),
            _ => false,
        }
    }

    /// This reason and then `more` (a merge's shards, in order).
    pub fn and(self, more: StopReason) -> StopReason {
        match self {
            StopReason::Several { mut reasons } => {
                reasons.push(more);
                StopReason::Several { reasons }
            }
            first => StopReason::Several { reasons: vec![first, more] },
        }
    }
}

impl From<String> for StopReason {
    /// A reason read back from text: a signal's stop as this version words it, else the words.
    fn from(text: String) -> StopReason {
        match text.as_str() {
            INTERRUPTED_BY_SIGNAL => StopReason::Interrupted,
            _ => StopReason::Said { text },
        }
    }
}

/// Writes an optional reason as its text (for `#[serde(serialize_with)]`): a field whose JSON
/// was always the reason's words stays so.
pub fn as_text_opt<S: Serializer, T: fmt::Display>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&t.to_string()),
        None => s.serialize_none(),
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

    #[derive(Serialize, Deserialize)]
    struct Whole {
        #[serde(serialize_with = "as_text_opt", deserialize_with = "typed_or_text_opt")]
        stopped_early: Option<StopReason>,
    }

    #[test]
    fn a_runs_reason_is_written_as_text_and_read_back() {
        let json = |r: Option<StopReason>| serde_json::to_string(&Whole { stopped_early: r }).unwrap();
        let back = |j: &str| serde_json::from_str::<Whole>(j).unwrap().stopped_early;
        assert_eq!(json(None), r#"{"stopped_early":null}"#);
        assert_eq!(
            json(Some(StopReason::Interrupted)),
            r#"{"stopped_early":"interrupted (Ctrl-C, SIGTERM or SIGHUP)"}"#
        );
        assert_eq!(back(&json(Some(StopReason::Interrupted))), Some(StopReason::Interrupted));
        let deadline = StopReason::On {
            case: "c".into(),
            cpu: "epyc".into(),
            why: Box::new(StopReason::RunDeadline { secs: 60 }),
        };
        assert_eq!(json(Some(deadline.clone())), r#"{"stopped_early":"c on epyc: the run deadline (60 s) passed"}"#);
        let merged = StopReason::Shard { name: "1/2".into(), why: Box::new(StopReason::Interrupted) }
            .and(StopReason::Shard { name: "2/2".into(), why: Box::new(deadline) });
        assert_eq!(
            merged.to_string(),
            "shard 1/2 stopped early: interrupted (Ctrl-C, SIGTERM or SIGHUP); shard 2/2 stopped early: c on epyc: \
             the run deadline (60 s) passed"
        );
        assert!(!merged.is_interrupted());
        // An older report's words read back as words; its signal stop is still one.
        let old = back(r#"{"stopped_early":"interrupted (Ctrl-C or SIGTERM)"}"#).unwrap();
        assert_eq!(old.to_string(), "interrupted (Ctrl-C or SIGTERM)");
        assert!(old.is_interrupted() && StopReason::Interrupted.is_interrupted());
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
