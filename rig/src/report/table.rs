//! The short human summary printed at the end of a run.

use crate::results::model::{CaseRun, RunReport};
use crate::results::{Outcome, Verdict};

/// How a run that stopped early is described: `INTERRUPTED` for Ctrl-C, SIGTERM or SIGHUP,
/// else `STOPPED` (the run deadline).
pub fn stop_word(r: &RunReport) -> &'static str {
    if r.interrupted() { "INTERRUPTED" } else { "STOPPED" }
}

/// The dumps a case × CPU did not keep, counted per reason (the reason names where the kept
/// ones of the same signature are): one line each.
fn dumps_not_kept(run: &CaseRun) -> String {
    let mut reasons: Vec<(&str, u32)> = Vec::new();
    for why in run.iterations.iter().flat_map(|i| i.outcome.dumps()).filter_map(|d| d.skipped.as_deref()) {
        match reasons.iter_mut().find(|(r, _)| *r == why) {
            Some((_, n)) => *n += 1,
            None => reasons.push((why, 1)),
        }
    }
    reasons.iter().map(|(why, n)| format!("    {n} x dump not kept: {why}\n")).collect()
}

/// What the verdict column says of a case × CPU, before it is rendered.
#[derive(Debug, Clone, Copy)]
pub enum VerdictCell<'a> {
    /// It could not run (skipped, or an infrastructure error): why.
    NotRun(&'a Outcome),
    /// The whole run stopped early (`word`: [`stop_word`]) after `ran` of its `of` iterations.
    CutShort {
        /// INTERRUPTED or STOPPED.
        word: &'static str,
        /// Iterations that ran.
        ran: usize,
        /// Iterations it had.
        of: usize,
    },
    /// A build in a comparison: judged by the comparison, not by its iterations.
    Compared,
    /// Its iterations' verdict.
    Judged(Verdict),
}

/// The verdict column of a case × CPU.
pub fn verdict_cell<'a>(r: &RunReport, run: &'a CaseRun) -> VerdictCell<'a> {
    match (&run.not_run, r.stopped_early.as_ref().and(run.cut_short())) {
        (Some(o), _) => VerdictCell::NotRun(o),
        (_, Some((ran, of))) => VerdictCell::CutShort { word: stop_word(r), ran, of },
        _ if run.compared => VerdictCell::Compared,
        _ => VerdictCell::Judged(run.verdict()),
    }
}

impl std::fmt::Display for VerdictCell<'_> {
    /// pass, FAIL, ERROR, skipped, why it did not run, how far it got, or "compared below".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerdictCell::NotRun(o) => f.write_str(&crate::report::junit::detail(o)),
            VerdictCell::CutShort { word, ran, of } => write!(f, "{word}: {ran} of {of} iterations ran"),
            VerdictCell::Compared => f.write_str("compared below"),
            VerdictCell::Judged(Verdict::Pass) => f.write_str("pass"),
            VerdictCell::Judged(Verdict::Fail) => f.write_str("FAIL"),
            VerdictCell::Judged(Verdict::Error) => f.write_str("ERROR"),
            VerdictCell::Judged(Verdict::Skipped) => f.write_str("skipped"),
        }
    }
}

/// The heads of the columns every summary shows, and a run's cells under them (the Markdown
/// summary and the run page share them).
pub const COLUMNS: [&str; 10] = ["case", "CPU", "image", "run", "pass", "fail", "panic", "hang", "err", "verdict"];

/// A run's cells under [`COLUMNS`].
pub fn cells(r: &RunReport, run: &CaseRun) -> [String; 10] {
    let t = &run.tally;
    [
        run.case.clone(),
        run.cpu.clone(),
        run.image.clone(),
        t.ran.to_string(),
        t.pass.to_string(),
        t.fail.to_string(),
        t.panics.to_string(),
        t.hangs.to_string(),
        t.error.to_string(),
        verdict_cell(r, run).to_string(),
    ]
}

/// Renders one line per case × CPU model, then the evidence of failing iterations.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    if !r.finished {
        s.push_str("UNFINISHED: this report was written while the run was going, and the run never ended (was the rig killed?)\n");
    }
    s += &format!(
        "{:<26} {:<12} {:<20} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5}  {}\n",
        "CASE", "CPU", "IMAGE", "RUN", "PASS", "FAIL", "PANIC", "HANG", "ERR", "VERDICT"
    );
    for run in &r.runs {
        let t = &run.tally;
        let verdict = verdict_cell(r, run).to_string();
        s.push_str(&format!(
            "{:<26} {:<12} {:<20} {:>5} {:>5} {:>5} {:>6} {:>5} {:>5}  {verdict}\n",
            run.case, run.cpu, run.image, t.ran, t.pass, t.fail, t.panics, t.hangs, t.error
        ));
        for (title, n) in &t.titles {
            s.push_str(&format!("    {n} x {title}\n"));
        }
        if t.reloads.attempted > 0 || t.reloads.loops + t.reloads.loops_unreported > 0 {
            s.push_str(&format!("    {}\n", t.reloads.summary()));
        }
        s.push_str(&dumps_not_kept(run));
        if let Some(why) = &run.stopped {
            s.push_str(&format!("    {why}\n"));
        }
        for it in run.iterations.iter().filter(|i| matches!(i.verdict, Verdict::Fail | Verdict::Error)) {
            let first = crate::report::junit::detail(&it.outcome);
            let first = first.lines().next().unwrap_or("");
            s.push_str(&format!(
                "    iteration {}: {} -- {first}\n      evidence: {}\n",
                it.index,
                it.outcome.word(),
                it.evidence
            ));
        }
    }
    for c in &r.comparisons {
        s.push_str(&format!("\n{} on {}: hunting {}\n", c.case, c.cpu, c.hunts));
        for b in &c.builds {
            s.push_str(&format!("  {:<22} {}\n", b.image, b.verdict_line()));
            for (title, n) in &b.titles {
                s.push_str(&format!("      {n} x {title}\n"));
            }
            if b.reloads.attempted > 0 {
                let median = b.reloads_median.map_or("unknown".into(), |m| format!("{m}"));
                s.push_str(&format!("      {}; median {median} ok per iteration\n", b.reloads.summary()));
            }
        }
        for k in &c.conclusions {
            s.push_str(&format!("  => {}\n", k.text));
        }
    }
    if let Some(why) = &r.stopped_early {
        s.push_str(&format!("stopped early: {why}\n"));
    }
    for e in &r.evidence_errors {
        s.push_str(&format!("EVIDENCE LOST: {e}\n"));
    }
    if r.nothing_ran() {
        s.push_str(&format!(
            "NOTHING RAN: every case x CPU was skipped (see the reasons above); exit code {}\n",
            crate::results::model::NOTHING_RAN
        ));
    }
    s
}
