//! Fingerprints (is it the same bug?) and the expectations a test case can state about a crash.

use super::report::CrashReport;
use serde::Serialize;

/// The identity of a crash: its title plus its reliable frames with offsets dropped.
/// Two crashes are the same bug when their titles match; the frames are a finer fingerprint.
///
/// Not a [`crate::case::model::Signature`]: that is what a test case states (every field
/// optional, the message a regex) and is matched against a crash; a fingerprint is computed
/// from a crash that happened and compared with another one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Fingerprint {
    /// The masked title.
    pub title: String,
    /// `module:function` (or `function`) of each reliable frame, innermost first.
    pub frames: Vec<String>,
}

impl Fingerprint {
    /// Same bug: the titles match.
    pub fn same_bug(&self, other: &Fingerprint) -> bool {
        self.title == other.title
    }

    /// Same bug and the same path to it: titles and frame lists match.
    pub fn same_stack(&self, other: &Fingerprint) -> bool {
        self == other
    }
}

impl CrashReport {
    /// The report's [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            title: self.title.clone(),
            frames: self.frames.iter().filter(|f| f.reliable).map(|f| f.qualified()).collect(),
        }
    }
}

/// What a test case can expect of a crash.
#[derive(Clone, Debug)]
pub enum CrashMatcher {
    /// The title, exactly.
    Title(String),
    /// A regex the crash message must match.
    Message(regex::Regex),
    /// A function that must be on the stack: `name` or `module:name`.
    Function(String),
}

impl CrashMatcher {
    /// Whether the report meets this expectation.
    pub fn matches(&self, r: &CrashReport) -> bool {
        match self {
            CrashMatcher::Title(t) => r.title == *t,
            CrashMatcher::Message(re) => re.is_match(&r.message),
            CrashMatcher::Function(name) => r.frames.iter().any(|f| f.function == *name || f.qualified() == *name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::{CrashKind, Frame};
    use super::*;

    fn report(title: &str, frames: &[(&str, Option<&str>, bool)]) -> CrashReport {
        CrashReport {
            os: super::super::Os::new("illumos"),
            kind: CrashKind::Assertion,
            title: title.to_string(),
            message: "assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162".to_string(),
            frames: frames
                .iter()
                .map(|(f, m, r)| Frame {
                    function: f.to_string(),
                    module: m.map(str::to_string),
                    offset: Some(0x10),
                    reliable: *r,
                })
                .collect(),
            corrupted: false,
            certainty: Default::default(),
            text: String::new(),
        }
    }

    #[test]
    fn same_bug_is_same_title() {
        let a = report("t", &[("f", Some("vmm"), true), ("g", None, false)]);
        let b = report("t", &[("f", Some("vmm"), true)]);
        assert!(a.fingerprint().same_bug(&b.fingerprint()));
        assert!(a.fingerprint().same_stack(&b.fingerprint()), "unreliable frames do not count");
        assert!(!a.fingerprint().same_bug(&report("u", &[]).fingerprint()));
    }

    #[test]
    fn matchers() {
        let r =
            report("assertion failed: !zsd->vz_active in vmm_zsd_destroy", &[("vmm_zsd_destroy", Some("vmm"), true)]);
        assert!(CrashMatcher::Title("assertion failed: !zsd->vz_active in vmm_zsd_destroy".into()).matches(&r));
        assert!(!CrashMatcher::Title("assertion failed".into()).matches(&r));
        assert!(CrashMatcher::Message(regex::Regex::new(r"vz_active.*line: \d+").unwrap()).matches(&r));
        assert!(CrashMatcher::Function("vmm_zsd_destroy".into()).matches(&r));
        assert!(CrashMatcher::Function("vmm:vmm_zsd_destroy".into()).matches(&r));
        assert!(!CrashMatcher::Function("zone_destroy".into()).matches(&r));
    }
}
