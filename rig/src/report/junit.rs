//! JUnit XML: one testcase per case × CPU model × iteration, which CI systems read.

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

/// Renders the report.
pub fn render(r: &RunReport) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rig\">\n");
    if !r.finished {
        x.push_str("  <testsuite name=\"rig\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n");
        x.push_str("    <testcase classname=\"rig\" name=\"run finished\">\n");
        x.push_str("      <error message=\"the run never ended: this report was written while it was going\"/>\n");
        x.push_str("    </testcase>\n  </testsuite>\n");
    }
    for run in &r.runs {
        let suite = format!("{}.{}", run.case, run.cpu);
        let t = &run.tally;
        let cut = r.stopped_early.as_ref().and(run.cut_short());
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            escape(&suite),
            t.ran + u32::from(run.not_run.is_some() || cut.is_some()),
            t.fail,
            t.error + u32::from(matches!(run.not_run, Some(Outcome::Infra { .. })) || cut.is_some()),
            t.skipped + u32::from(matches!(run.not_run, Some(Outcome::Skipped { .. })))
        );
        if let (Some((ran, of)), Some(why)) = (cut, &r.stopped_early) {
            let _ = writeln!(x, "    <testcase classname=\"{}\" name=\"iterations not run\">", escape(&suite));
            let msg = format!("{}: {ran} of {of} iterations ran ({why})", super::table::stop_word(r).to_lowercase());
            let _ = writeln!(x, "      <error message=\"{}\"/>", escape(&msg));
            x.push_str("    </testcase>\n");
        }
        if let Some(o) = &run.not_run {
            let _ = writeln!(x, "    <testcase classname=\"{}\" name=\"not run\">", escape(&suite));
            match o {
                Outcome::Skipped { reason } => {
                    let _ = writeln!(x, "      <skipped message=\"{}\"/>", escape(reason));
                }
                other => {
                    let _ = writeln!(x, "      <error message=\"{}\"/>", escape(&format!("{other:?}")));
                }
            }
            x.push_str("    </testcase>\n");
        }
        for it in &run.iterations {
            let _ = writeln!(
                x,
                "    <testcase classname=\"{}\" name=\"iteration {}\" time=\"{:.3}\">",
                escape(&suite),
                it.index,
                it.secs
            );
            let detail = detail(&it.outcome);
            match it.verdict {
                Verdict::Pass => {}
                Verdict::Fail => {
                    let _ = writeln!(
                        x,
                        "      <failure message=\"{}\">{}\nevidence: {}</failure>",
                        escape(it.outcome.word()),
                        escape(&detail),
                        escape(&it.evidence)
                    );
                }
                Verdict::Error => {
                    let _ = writeln!(
                        x,
                        "      <error message=\"{}\">{}\nevidence: {}</error>",
                        escape(it.outcome.word()),
                        escape(&detail),
                        escape(&it.evidence)
                    );
                }
                Verdict::Skipped => {
                    let _ = writeln!(x, "      <skipped message=\"{}\"/>", escape(&detail));
                }
            }
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    for c in &r.comparisons {
        let suite = format!("{}.{}.compare", c.case, c.cpu);
        let failures = c.conclusions.iter().filter(|k| k.status != crate::results::compare::Status::Fixed).count();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
            escape(&suite),
            c.conclusions.len()
        );
        let builds: Vec<String> = c.builds.iter().map(|b| format!("{}: {}", b.image, b.verdict)).collect();
        for k in &c.conclusions {
            let _ =
                writeln!(x, "    <testcase classname=\"{}\" name=\"{} fixed\">", escape(&suite), escape(&k.candidate));
            if k.status != crate::results::compare::Status::Fixed {
                let _ = writeln!(
                    x,
                    "      <failure message=\"{}\">{}</failure>",
                    escape(k.status.word()),
                    escape(&builds.join("\n"))
                );
            }
            let _ = writeln!(x, "      <system-out>{}\n{}</system-out>", escape(&k.text), escape(&builds.join("\n")));
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
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
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_bytes() {
        assert_eq!(escape("a<b & \"c\"\u{1b}"), "a&lt;b &amp; &quot;c&quot;?");
    }
}
