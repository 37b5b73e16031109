//! The scorecard of a corpus of real crash text: right/total per OS and per form.
//!
//! A case is right when "is there a crash" is answered as its header says and, when it expects
//! one, its first title matches: a case with a `CERTAINTY:` header is compared on the headline
//! (the title without syzkaller's `in corrupted`) and the certainty, a syzkaller-style case on
//! the title alone. Each case is read with the forced OS, else its `OS:`, else the detected
//! OS, else the fallback; a case whose OS cannot be told is an error, not a guess.

use super::corpus::Case;
use super::detect::detect_os;
use super::stream::{Dialect, read_all};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Right and total for one group of cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cases read right.
    pub right: usize,
    /// Cases in the group.
    pub total: usize,
}

impl Tally {
    fn add(&mut self, right: bool) {
        self.total += 1;
        self.right += usize::from(right);
    }
}

/// One case read wrong: what was expected and what was read.
#[derive(Clone, Debug)]
pub struct Wrong {
    /// The case file.
    pub path: PathBuf,
    /// `title [certainty]` expected, or `no crash`.
    pub want: String,
    /// `title [certainty]` read, or `no crash`.
    pub got: String,
}

/// The scorecard: overall, per OS, per form, and every wrong case.
#[derive(Clone, Debug, Default)]
pub struct Scorecard {
    /// All cases.
    pub all: Tally,
    /// Per OS (`linux`, `illumos`).
    pub per_os: BTreeMap<String, Tally>,
    /// Per form named in the cases' `FORM:` headers.
    pub per_form: BTreeMap<String, Tally>,
    /// The cases read wrong.
    pub wrong: Vec<Wrong>,
}

/// Why a corpus could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The directory holds no case: a score of nothing is not 100%.
    #[error("no cases to score: the corpus is empty")]
    Empty,
    /// A case says no `OS:` and its text does not tell.
    #[error("{0}: no OS: header and the text does not tell which OS wrote it")]
    UnknownOs(PathBuf),
}

/// Scores the cases read with `dialects` (the guest OSes known); `forced` reads them all with
/// one reader, `fallback` serves the cases whose OS neither their header nor their text tells.
pub fn scorecard(
    cases: &[Case],
    dialects: &[&'static dyn Dialect],
    forced: Option<&'static dyn Dialect>,
    fallback: Option<&'static dyn Dialect>,
) -> Result<Scorecard, ScoreError> {
    if cases.is_empty() {
        return Err(ScoreError::Empty);
    }
    let mut card = Scorecard::default();
    for case in cases {
        let named = |os| dialects.iter().copied().find(|d| d.os() == os);
        let dialect = forced
            .or_else(|| case.os.and_then(named))
            .or_else(|| detect_os(&case.text, dialects).and_then(named))
            .or(fallback)
            .ok_or_else(|| ScoreError::UnknownOs(case.path.clone()))?;
        let os = dialect.os();
        let reports = read_all(dialect, &case.text);
        let want = case.titles.first().map(|t| describe(t, case.certainty.as_deref()));
        let got = reports.first().map(|r| match &case.certainty {
            Some(_) => describe(r.headline(), Some(&r.certainty.to_string())),
            None => r.title.clone(),
        });
        let right = want == got;
        card.all.add(right);
        card.per_os.entry(os.to_string()).or_default().add(right);
        for form in &case.forms {
            card.per_form.entry(form.clone()).or_default().add(right);
        }
        if !right {
            let or_none = |s: Option<String>| s.unwrap_or_else(|| "no crash".to_string());
            card.wrong.push(Wrong { path: case.path.clone(), want: or_none(want), got: or_none(got) });
        }
    }
    Ok(card)
}

fn describe(title: &str, certainty: Option<&str>) -> String {
    match certainty {
        Some(c) => format!("{title} [{c}]"),
        None => title.to_string(),
    }
}

impl Tally {
    /// Right in percent of total.
    pub fn percent(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.right as f64 * 100.0 / self.total as f64 }
    }
}
