//! JUnit XML: one testcase per case × CPU model × image × iteration, which CI systems read
//! (checked against `rig/testdata/junit/junit.xsd`, the schema Jenkins' and Ant's reporters share).

use std::fmt::Write;

use crate::results::model::RunReport;
use crate::results::{Outcome, Verdict};

/// Escapes text for XML attributes and bodies.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// One `<testsuite>`: its counts and its rendered testcases.
#[derive(Default)]
struct Suite {
    name: String,
    tests: u32,
    failures: u32,
    errors: u32,
    skipped: u32,
    secs: f64,
    body: String,
}

impl Suite {
    fn named(name: String) -> Suite {
        Suite { name, ..Default::default() }
    }

    /// Adds a testcase of `secs` whose result element (if any) is `result`, with `out` as its
    /// `<system-out>`.
    fn case(&mut self, name: &str, secs: f64, result: Option<(Verdict, String)>, out: Option<&str>) {
        self.tests += 1;
        self.secs += secs;
        let _ = writeln!(
            self.body,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{secs:.3}\">",
            escape(&self.name),
            escape(name)
        );
        match &result {
            Some((Verdict::Fail, _)) => self.failures += 1,
            Some((Verdict::Error, _)) => self.errors += 1,
            Some((Verdict::Skipped, _)) => self.skipped += 1,
            _ => {}
        }
        if let Some((_, element)) = result {
            let _ = writeln!(self.body, "      {element}");
        }
        if let Some(out) = out {
            let _ = writeln!(self.body, "      <system-out>{}</system-out>", escape(out));
        }
        self.body.push_str("    </testcase>\n");
    }
}

/// A `<failure>`, `<error>` or `<skipped>` element for `verdict`: `message` is the one line a
/// reporter shows (a crash's title), `kind` the outcome word, `text` the details.
fn result(verdict: Verdict, message: &str, kind: &str, text: &str) -> Option<(Verdict, String)> {
    let tag = match verdict {
        Verdict::Pass => return None,
        Verdict::Fail => "failure",
        Verdict::Error => "error",
        Verdict::Skipped => return Some((verdict, format!("<skipped message=\"{}\"/>", escape(message)))),
    };
    let element = format!("<{tag} message=\"{}\" type=\"{}\">{}</{tag}>", escape(message), escape(kind), escape(text));
    Some((verdict, element))
}

/// The one line a reporter shows for an outcome: a crash's title, a hang's wait, a step's reason.
pub fn message(o: &Outcome) -> String {
    match o {
        Outcome::Panic { title, .. } => title.clone(),
        other => detail(other).lines().next().unwrap_or_default().to_string(),
    }
}

/// `text` with the run directory's prefix dropped from the paths in it (evidence, dumps, the
/// command that opens a dump): relative to where `junit.xml` and `index.html` are, and naming
/// no path of the machine that ran it.
pub(crate) fn relative_in(text: &str, run_dir: &str) -> String {
    if run_dir.is_empty() { text.to_string() } else { text.replace(&format!("{}/", run_dir.trim_end_matches('/')), "") }
}

/// Renders the report: one suite per case × CPU × image (`case.cpu.image`, so the builds of a
/// comparison never share a testcase's identity) and one per comparison, with counts, times and
/// the run's start on every suite (and its host) and their totals on `<testsuites>`.
pub fn render(r: &RunReport) -> String {
    let mut suites = Vec::new();
    if !r.finished {
        let mut s = Suite::named("rig".into());
        let why = "the run never ended: this report was written while it was going";
        s.case("run finished", 0.0, result(Verdict::Error, why, "unfinished", why), None);
        suites.push(s);
    }
    for run in &r.runs {
        let mut s = Suite::named(format!("{}.{}.{}", run.case, run.cpu, run.image));
        if let (Some((ran, of)), Some(why)) = (r.stopped_early.as_ref().and(run.cut_short()), &r.stopped_early) {
            let msg = format!("{}: {ran} of {of} iterations ran ({why})", super::table::stop_word(r).to_lowercase());
            s.case("iterations not run", 0.0, result(Verdict::Error, &msg, "stopped_early", &msg), None);
        }
        if let Some(o) = &run.not_run {
            let verdict = if matches!(o, Outcome::Skipped { .. }) { Verdict::Skipped } else { Verdict::Error };
            s.case("not run", 0.0, result(verdict, &message(o), o.word(), &detail(o)), None);
        }
        for it in &run.iterations {
            let text = relative_in(&format!("{}\nevidence: {}", detail(&it.outcome), it.evidence), &r.run_dir);
            let res = result(it.verdict, &message(&it.outcome), it.outcome.word(), &text);
            s.case(&format!("iteration {}", it.index), it.secs, res, None);
        }
        suites.push(s);
    }
    for c in &r.comparisons {
        let mut s = Suite::named(format!("{}.{}.compare", c.case, c.cpu));
        let builds: Vec<String> = c.builds.iter().map(|b| format!("{}: {}", b.image, b.verdict_line())).collect();
        for k in &c.conclusions {
            let res = (k.status != crate::results::compare::Status::Fixed)
                .then(|| result(Verdict::Fail, &k.text, k.status.word(), &builds.join("\n")))
                .flatten();
            let out = format!("{}\n{}", k.text, builds.join("\n"));
            s.case(&format!("{} fixed", k.candidate), 0.0, res, Some(&out));
        }
        suites.push(s);
    }
    let stamp = timestamp(&r.provenance.started);
    // Ant's schema has the host on each suite only.
    let host = match r.provenance.host.as_str() {
        "" => String::new(),
        h => format!(" hostname=\"{}\"", escape(h)),
    };
    let sum = |f: fn(&Suite) -> u32| suites.iter().map(f).sum::<u32>();
    let total_secs = r.provenance.duration_secs().unwrap_or_else(|| suites.iter().map(|s| s.secs).sum());
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"rig\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{total_secs:.3}\"{stamp}>",
        sum(|s| s.tests),
        sum(|s| s.failures),
        sum(|s| s.errors),
        sum(|s| s.skipped)
    );
    for s in &suites {
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\"{stamp}{host}>",
            escape(&s.name),
            s.tests,
            s.failures,
            s.errors,
            s.skipped,
            s.secs
        );
        x.push_str(&s.body);
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// The ` timestamp="..."` attribute of the run's start, as Ant's schema has it (UTC, no zone
/// suffix); empty when the start is unknown (reports written before it was recorded).
fn timestamp(started: &str) -> String {
    match humantime::parse_rfc3339(started) {
        Ok(t) => format!(" timestamp=\"{}\"", humantime::format_rfc3339_seconds(t).to_string().trim_end_matches('Z')),
        Err(_) => String::new(),
    }
}

/// A short text for an outcome.
pub fn detail(o: &Outcome) -> String {
    match o {
        Outcome::Completed => "completed".into(),
        Outcome::Panic { title, triage, excerpt, .. } => {
            format!("panic: {title}\n{}", if triage.is_empty() { excerpt } else { triage })
        }
        Outcome::Hang { awaited, tail, evidence } => {
            let mut s = format!("hang: {awaited}\nlast console lines:\n{tail}");
            if let Some(ev) = evidence {
                for d in o.dumps() {
                    s.push_str(&format!("\ndump: {}", d.summary()));
                }
                s.push_str(&format!("\nNMI injected: {}, guest panicked: {}", ev.nmi.injected, ev.nmi.guest_panicked));
            }
            s
        }
        Outcome::StepFailed { step, reason } => format!("{step}: {reason}"),
        Outcome::Infra { reason } => reason.clone(),
        Outcome::Skipped { reason } => reason.clone(),
    }
}

#[cfg(test)]
#[path = "junit_tests.rs"]
mod tests;
