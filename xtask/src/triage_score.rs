//! `cargo xtask triage --score DIR`: right/total per OS and per form over a corpus directory.

use crate::triage::TriageArgs;
use rig::crash::corpus::load_dir;
use rig::crash::scorecard::{Scorecard, scorecard};
use rig::crash::{Os, detect_os};
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
    // A case that names no OS and whose text does not tell is read as most of the others are.
    let illumos = cases.iter().filter(|c| c.os.or_else(|| detect_os(&c.text)) == Some(Os::Illumos)).count();
    let linux = cases.iter().filter(|c| c.os.or_else(|| detect_os(&c.text)) == Some(Os::Linux)).count();
    let fallback = if illumos > linux { Os::Illumos } else { Os::Linux };
    let card = match scorecard(&cases, args.os.forced(), Some(fallback)) {
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
