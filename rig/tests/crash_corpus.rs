//! The syzkaller Linux corpus: crash/no-crash and title agreement must not slide back.
//!
//! The corpus lives beside the repository (`../shared/corpus/syzkaller-linux/cases` from the
//! workspace root); `RIG_SYZKALLER_CORPUS` points elsewhere. A missing corpus fails the test.

use rig::crash::corpus::{Score, load_dir, score};
use rig::guest_os::linux::LinuxDialect;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Floors reached so far (ratchet: raise them when the reader improves, never lower them).
const CRASH_AGREEMENT_FLOOR: f64 = 99.4;
const TITLE_AGREEMENT_FLOOR: f64 = 93.6;

fn corpus_dir() -> PathBuf {
    match std::env::var_os("RIG_SYZKALLER_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/syzkaller-linux/cases")),
    }
}

fn scored() -> &'static Score {
    static SCORE: OnceLock<Score> = OnceLock::new();
    SCORE.get_or_init(|| {
        let dir = corpus_dir();
        let cases = load_dir(&dir).unwrap_or_else(|e| {
            panic!("syzkaller corpus not found at {} ({e}); set RIG_SYZKALLER_CORPUS", dir.display())
        });
        assert!(cases.len() > 100, "only {} cases in {}", cases.len(), dir.display());
        score(&LinuxDialect, &cases)
    })
}

fn report(s: &Score) -> String {
    let mut out = format!(
        "{} cases: crash/no-crash agreement {:.1}%, title agreement {:.1}% ({}/{})\n",
        s.cases,
        s.crash_percent(),
        s.title_percent(),
        s.title_agree,
        s.with_title
    );
    for m in &s.misses {
        out += &format!("  {}: want {:?} got {:?}\n", m.path.display(), m.want, m.got);
    }
    out
}

#[test]
fn crash_no_crash_agreement_holds() {
    let s = scored();
    assert!(s.crash_percent() >= 98.0, "below the 98% target\n{}", report(s));
    assert!(s.crash_percent() >= CRASH_AGREEMENT_FLOOR, "slid below the floor\n{}", report(s));
}

#[test]
fn title_agreement_holds() {
    let s = scored();
    eprintln!("{}", report(s));
    assert!(s.title_percent() >= 70.0, "below the 70% target\n{}", report(s));
    assert!(s.title_percent() >= TITLE_AGREEMENT_FLOOR, "slid below the floor\n{}", report(s));
}
