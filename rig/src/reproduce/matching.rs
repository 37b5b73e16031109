//! Which test cases hunt a crash: each case's `hunts:` and `expect:` signatures held against a
//! reading (title, message and frames), ranked, with the image each case needs.

use super::reading::{Reading, title_function};
use crate::case::LoadedCase;
use crate::case::model::{ExpectOutcome, Signature};

/// How well a case's signature fits the crash, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Every field the signature names holds on the crash (its title exactly).
    Exact,
    /// The title's function and the signature's function are all among the crash's identifying
    /// frames, the title's the guilty one: the same code path, though the title is worded
    /// another way (another OS's reader, a miniature of the bug).
    SameFrames,
    /// Some of what the signature names holds (a function somewhere on the stack, the message
    /// regex), not enough to call it the same crash.
    Partial,
}

impl Strength {
    /// A sentence for people.
    pub fn explain(self) -> &'static str {
        match self {
            Strength::Exact => "its signature holds exactly (title, message, functions)",
            Strength::SameFrames => "the same guilty function and identifying frames, worded as another title",
            Strength::Partial => "part of its signature holds: a function on the stack or the message",
        }
    }
}

/// A case that hunts the crash.
#[derive(Debug, Clone)]
pub struct CaseMatch {
    /// The case.
    pub case: LoadedCase,
    /// How well it fits.
    pub strength: Strength,
    /// Which of its signatures fits: `hunts` or `expect`.
    pub via: &'static str,
    /// The image it boots (`guest.image`).
    pub image: String,
    /// The images it compares, if any (the reference first).
    pub compare: Vec<String>,
    /// Whether its image runs the OS the text was read as.
    pub same_os: bool,
}

/// The cases among `cases` whose `hunts:` or `expect: { outcome: panic, ... }` fit the crash,
/// best first: by strength, then those on the text's own OS, then `hunts` before `expect`,
/// then by name.
pub fn match_cases(reading: &Reading, cases: &[LoadedCase]) -> Vec<CaseMatch> {
    let mut out: Vec<CaseMatch> = cases.iter().filter_map(|c| fit(reading, c)).collect();
    out.sort_by(|a, b| {
        (a.strength, !a.same_os, a.via, &a.case.case.name).cmp(&(b.strength, !b.same_os, b.via, &b.case.case.name))
    });
    out
}

/// The best fit of one case's signatures, if any.
fn fit(reading: &Reading, lc: &LoadedCase) -> Option<CaseMatch> {
    let c = &lc.case;
    let expect = (c.expect.outcome == ExpectOutcome::Panic).then_some(&c.expect.panic);
    let (strength, via) = [("hunts", c.hunts.as_ref()), ("expect", expect)]
        .into_iter()
        .filter_map(|(via, sig)| Some((strength(reading, sig.filter(|s| !s.is_empty())?)?, via)))
        .min()?;
    let image = c.guest.image.clone();
    let same_os = crate::guest_os::os_of(&image).is_some_and(|k| k.name() == reading.os().name());
    Some(CaseMatch { case: lc.clone(), strength, via, image, compare: c.compare.clone(), same_os })
}

/// How well `sig` fits the crash read.
pub fn strength(reading: &Reading, sig: &Signature) -> Option<Strength> {
    let r = &reading.report;
    if sig.matches_panic(Some(r), &r.title) {
        return Some(Strength::Exact);
    }
    let guilty = sig.title.as_deref().and_then(title_function);
    let names: Vec<&str> = guilty.into_iter().chain(sig.function.as_deref()).collect();
    let guilty_same = guilty.is_none_or(|g| reading.function.as_deref() == Some(g));
    if !names.is_empty() && guilty_same && names.iter().all(|n| reading.identifies(n)) {
        return Some(Strength::SameFrames);
    }
    let message =
        sig.message.as_deref().and_then(|m| regex::Regex::new(m).ok()).is_some_and(|re| re.is_match(&r.message));
    (message || names.iter().any(|n| reading.on_stack(n))).then_some(Strength::Partial)
}
