//! The run page's crashes: one block per crash signature (a panic's title, a hang's wait, a
//! step's failure), however many iterations hit it. Each block counts the signature per case ×
//! CPU × image with its first and last iteration, shows one sample (its stack with the
//! unreliable `?` frames greyed, its console excerpt with the crash lines marked, the command
//! that opens its dump) and links every occurrence to its evidence. Pure.

use std::fmt::Write as _;

use super::html::{esc, href};
use super::junit::relative_in;
use crate::crash::{Dialect, Frame};
use crate::results::Outcome;
use crate::results::model::{CaseRun, IterationResult, RunReport};

/// Frames of a sample's stack shown on the page.
const FRAMES_SHOWN: usize = 16;

/// One occurrence of a signature: the iteration `it` of `run`.
pub struct Occurrence<'a> {
    /// The case × CPU × image.
    pub run: &'a CaseRun,
    /// The iteration.
    pub it: &'a IterationResult,
}

/// A crash signature and every iteration that hit it, in report order.
pub struct Group<'a> {
    /// The outcome's word (`panic`, `hang`, ...).
    pub kind: &'static str,
    /// What the iterations share: a panic's title, a hang's wait, a step's failure.
    pub signature: String,
    /// Its occurrences.
    pub occurrences: Vec<Occurrence<'a>>,
}

/// The iterations of `r` that did not complete, grouped by signature, in order of first sight.
pub fn groups(r: &RunReport) -> Vec<Group<'_>> {
    let mut out: Vec<Group> = Vec::new();
    for run in &r.runs {
        for it in run.iterations.iter().filter(|i| !matches!(i.outcome, Outcome::Completed)) {
            let (kind, signature) = (it.outcome.word(), super::junit::message(&it.outcome));
            let occurrence = Occurrence { run, it };
            match out.iter_mut().find(|g| g.kind == kind && g.signature == signature) {
                Some(g) => g.occurrences.push(occurrence),
                None => out.push(Group { kind, signature, occurrences: vec![occurrence] }),
            }
        }
    }
    out
}

/// The page anchor of iteration `index` of `run`, which its timeline square links to.
pub fn anchor(run: &CaseRun, index: u32) -> String {
    crate::rundir::sanitize(&format!("it-{}-{}-{}-{index}", run.case, run.cpu, run.image))
}

/// Where an occurrence's evidence is: its iteration's directory when the rig wrote one (a
/// panic's or a hang's), else its session's console log.
fn evidence(r: &RunReport, it: &IterationResult) -> String {
    match it.outcome {
        Outcome::Panic { .. } | Outcome::Hang { .. } => {
            href(&r.run_dir, &format!("{}/iteration-{}", it.evidence, it.index))
        }
        _ => href(&r.run_dir, &format!("{}/ttyS0.log", it.evidence)),
    }
}

/// Writes every signature's block.
pub fn render(s: &mut String, r: &RunReport) {
    let groups = groups(r);
    if !groups.is_empty() {
        let _ = write!(s, "<h2>Crashes and failures: {} signature{}</h2>", groups.len(), plural(groups.len()));
    }
    for (k, g) in groups.iter().enumerate() {
        block(s, r, k + 1, g);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One signature's block.
fn block(s: &mut String, r: &RunReport, number: usize, g: &Group) {
    let _ = write!(
        s,
        "<section class=\"crash\" id=\"crash-{number}\"><h3>{} <small>({}, {} iteration{})</small></h3>\
         <table class=\"counts\"><tr><th>case</th><th>CPU</th><th>image</th><th>hit</th><th>first</th><th>last</th></tr>",
        esc(&g.signature),
        g.kind,
        g.occurrences.len(),
        plural(g.occurrences.len())
    );
    let mut runs: Vec<&CaseRun> = Vec::new();
    for o in &g.occurrences {
        if !runs.iter().any(|r| std::ptr::eq(*r, o.run)) {
            runs.push(o.run);
        }
    }
    for run in &runs {
        let mine: Vec<u32> = g.occurrences.iter().filter(|o| std::ptr::eq(o.run, *run)).map(|o| o.it.index).collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} of {}</td><td>{}</td><td>{}</td></tr>",
            esc(&run.case),
            esc(&run.cpu),
            esc(&run.image),
            mine.len(),
            run.iterations.len(),
            mine[0],
            mine[mine.len() - 1]
        );
    }
    s.push_str("</table>");
    let first = &g.occurrences[0];
    let _ = write!(
        s,
        "<p>Sample: {} on {} ({}), iteration {}.</p>",
        esc(&first.run.case),
        esc(&first.run.cpu),
        esc(&first.run.image),
        first.it.index
    );
    sample(s, r, first.run, first.it);
    s.push_str("<p class=\"occurrences\">Every occurrence:");
    for run in &runs {
        let _ = write!(s, " {} on {} ({}):", esc(&run.case), esc(&run.cpu), esc(&run.image));
        for o in g.occurrences.iter().filter(|o| std::ptr::eq(o.run, *run)) {
            let _ =
                write!(s, " <a id=\"{}\" href=\"{}\">{}</a>", anchor(run, o.it.index), evidence(r, o.it), o.it.index);
        }
    }
    s.push_str("</p></section>");
}

/// A stack, innermost first, the unreliable frames (`?`, may be stale) greyed.
pub fn stack(frames: &[Frame]) -> String {
    let shown: Vec<String> = frames
        .iter()
        .take(FRAMES_SHOWN)
        .map(|f| {
            if f.reliable {
                esc(&f.function)
            } else {
                format!("<span class=\"unreliable\">? {}</span>", esc(&f.function))
            }
        })
        .collect();
    shown.join(" &larr; ")
}

/// Marks the lines of a console excerpt that tell of the crash (as the `dialects` say).
pub fn marked(excerpt: &str, dialects: &[&'static dyn Dialect]) -> String {
    excerpt
        .lines()
        .map(|l| if dialects.iter().any(|d| d.marks(l)) { format!("<mark>{}</mark>", esc(l)) } else { esc(l) })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sample of a signature: its details and the links to its evidence.
fn sample(s: &mut String, r: &RunReport, run: &CaseRun, it: &IterationResult) {
    let ev = |f: &str| href(&r.run_dir, &format!("{}/{f}", it.evidence));
    let mut links: Vec<String> =
        ["ttyS0.log", "qmp.log", "qemu.cmdline"].iter().map(|f| format!("<a href=\"{}\">{f}</a>", ev(f))).collect();
    let iter_dir = format!("iteration-{}", it.index);
    match &it.outcome {
        Outcome::Panic { report, excerpt, triage, .. } => {
            links.push(format!("<a href=\"{}\">{iter_dir}/</a>", ev(&iter_dir)));
            if let Some(rep) = report.as_ref().filter(|r| !r.frames.is_empty()) {
                let _ = write!(s, "<p class=\"stack\">stack: {}</p>", stack(&rep.frames));
            }
            // The dialect that read the report, else the image's OS's, else every one.
            let dialects = report
                .as_ref()
                .and_then(|r| crate::guest_os::dialect(r.os.name()))
                .or_else(|| crate::guest_os::os_of(&run.image).map(|k| k.dialect()))
                .map_or_else(crate::guest_os::dialects, |d| vec![d]);
            let _ = write!(s, "<pre class=\"excerpt\">{}</pre>", marked(excerpt, &dialects));
            links.push(format!("<a href=\"{}\">triage.txt</a>", ev(&format!("{iter_dir}/triage.txt"))));
            if let Some(cmd) = triage.lines().find_map(|l| l.trim().strip_prefix("$ ")) {
                let _ = write!(s, "<p>open the dump: <code>{}</code></p>", esc(&relative_in(cmd, &r.run_dir)));
            }
        }
        Outcome::Hang { awaited, tail, .. } => {
            links.push(format!("<a href=\"{}\">{iter_dir}/</a>", ev(&iter_dir)));
            let _ = write!(s, "<p class=\"fail\">hung during: {}</p><pre>{}</pre>", esc(awaited), esc(tail));
            links.push(format!("<a href=\"{}\">registers.txt</a>", ev(&format!("{iter_dir}/registers.txt"))));
        }
        o => {
            let _ = write!(s, "<pre>{}</pre>", esc(&relative_in(&super::junit::detail(o), &r.run_dir)));
        }
    }
    for d in it.outcome.dumps() {
        let path = href(&r.run_dir, &d.path.display().to_string());
        let text = esc(&relative_in(&d.summary(), &r.run_dir));
        links.push(if d.ok() { format!("<a href=\"{path}\">{text}</a>") } else { text });
    }
    let _ = write!(s, "<p class=\"links\">{}</p>", links.join(" &middot; "));
}

#[cfg(test)]
#[path = "crash_blocks_tests.rs"]
mod tests;
