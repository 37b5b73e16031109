//! `cargo xtask triage --score DIR`: right/total per OS and per form over a corpus directory.

use crate::triage::TriageArgs;
use rig::crash::corpus::load_dir;
use rig::crash::scorecard::{Scorecard, scorecard};
use rig::crash::{Dialect, detect_os};
use std::fmt::Write as _;

/// Scores the corpus in `dir`; exit 0 when scored (whatever the score), 2 when it cannot be.
pub fn run(args: &TriageArgs, dir: &std::path::Path) -> anyhow::Result<i32> {
    let cases = match load_dir(dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot read corpus {}: {e}", dir.display());
            return Ok(crate::exit::USAGE);
        }
    };
    let dialects = rig::guest_os::dialects();
    // A case that names no OS and whose text does not tell is read as most of the others are
    // (a tie goes to the OS the registry lists first).
    let os_of = |c: &rig::crash::corpus::Case| c.os.or_else(|| detect_os(&c.text, &dialects));
    let count = |d: &&'static dyn Dialect| cases.iter().filter(|c| os_of(c) == Some(d.os())).count();
    let most = dialects.iter().map(count).max().unwrap_or(0);
    let fallback = dialects.iter().copied().find(|d| count(d) == most);
    let forced = crate::triage::forced(&args.os).and_then(rig::guest_os::dialect);
    let card = match scorecard(&cases, &dialects, forced, fallback) {
        Ok(card) => card,
        Err(e) => {
            eprintln!("error: cannot score {}: {e}", dir.display());
            return Ok(crate::exit::USAGE);
        }
    };
    crate::out::write(&render(&card, args.verbose));
    Ok(crate::exit::OK)
}

fn render(card: &Scorecard, verbose: bool) -> String {
    let mut out = String::new();
    if verbose {
        for w in &card.wrong {
            let _ = writeln!(out, "{}:\n  want {}\n  got  {}", w.path.display(), w.want, w.got);
        }
    }
    let line = |out: &mut String, name: &str, t: &rig::crash::scorecard::Tally| {
        let _ = writeln!(out, "  {name:<28} {:>4}/{:<4} {:5.1}%", t.right, t.total, t.percent());
    };
    let _ = writeln!(
        out,
        "{} cases: {}/{} right ({:.1}%)",
        card.all.total,
        card.all.right,
        card.all.total,
        card.all.percent()
    );
    let _ = writeln!(out, "per OS:");
    for (os, t) in &card.per_os {
        line(&mut out, os, t);
    }
    if !card.per_form.is_empty() {
        let _ = writeln!(out, "per form:");
        for (form, t) in &card.per_form {
            line(&mut out, form, t);
        }
    }
    out
}
