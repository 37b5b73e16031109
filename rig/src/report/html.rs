//! `index.html`: the run as one self-contained page (inline CSS and SVG, no network), readable
//! offline and as a CI artifact. The campaign at a glance, each comparison's hit rates with
//! their 95% intervals drawn, an iteration timeline per case × CPU × image, and for every
//! failing iteration its title, stack, console excerpt with the panic lines marked, the
//! command that opens its dump, and links to the evidence (relative, inside the run
//! directory). Pure.

use std::fmt::Write as _;
use std::path::Path;

use super::table::{COLUMNS, VerdictCell, cells, verdict_cell};
use crate::crash::Dialect;
use crate::results::compare::Comparison;
use crate::results::model::{CaseRun, IterationResult, RunReport};
use crate::results::{Outcome, Verdict};

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The colour of an outcome on the timeline.
fn colour(o: &Outcome) -> &'static str {
    match o {
        Outcome::Completed => "#3a3",
        Outcome::Panic { .. } => "#d33",
        Outcome::Hang { .. } => "#83c",
        Outcome::StepFailed { .. } => "#e90",
        Outcome::Infra { .. } | Outcome::Skipped { .. } => "#999",
    }
}

/// A path as a link from the run directory: relative when it lies inside it.
fn href(run_dir: &str, path: &str) -> String {
    let rel = Path::new(path).strip_prefix(run_dir).map(|p| p.display().to_string()).unwrap_or(path.to_string());
    esc(&rel)
}

const STYLE: &str = "body{font:14px sans-serif;margin:1.5em;max-width:75em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.pass{color:#282}.fail{color:#c22;font-weight:bold}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto}mark{background:#fcc}h3{margin-top:1.5em}";

/// The page.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let headline = super::markdown::headline(r);
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>rig: {}</title><style>{STYLE}</style></head><body>\
         <h1 id=\"headline\">rig: {}</h1><p>accelerator {}, seed {}{}</p>",
        esc(&headline),
        esc(&headline),
        esc(&r.accel),
        r.seed,
        r.shard.as_deref().map(|s| format!(", shard {}", esc(s))).unwrap_or_default()
    );
    let heads: String = COLUMNS.iter().map(|h| format!("<th>{h}</th>")).collect();
    let _ = write!(s, "<table id=\"runs\"><tr>{heads}<th>iterations</th></tr>");
    for run in &r.runs {
        let row = cells(r, run);
        let verdict = &row[row.len() - 1];
        let class = match verdict_cell(r, run) {
            VerdictCell::Judged(Verdict::Pass) => "pass",
            VerdictCell::Judged(Verdict::Fail) => "fail",
            VerdictCell::Judged(Verdict::Error | Verdict::Skipped)
            | VerdictCell::NotRun(_)
            | VerdictCell::CutShort { .. }
            | VerdictCell::Compared => "",
        };
        let tds: String = row[..row.len() - 1].iter().map(|c| format!("<td>{}</td>", esc(c))).collect();
        let _ = write!(s, "<tr>{tds}<td class=\"{class}\">{}</td><td>{}</td></tr>", esc(verdict), timeline(run));
    }
    s.push_str("</table><p>Timeline: <span style=\"color:#3a3\">completed</span>, <span style=\"color:#d33\">panic</span>, \
                <span style=\"color:#83c\">hang</span>, <span style=\"color:#e90\">step failed</span>, <span style=\"color:#999\">infrastructure</span>.</p>");
    for c in &r.comparisons {
        comparison(&mut s, c);
    }
    for run in &r.runs {
        for it in run.iterations.iter().filter(|i| !matches!(i.outcome, Outcome::Completed)) {
            failing(&mut s, r, run, it);
        }
    }
    for e in &r.evidence_errors {
        let _ = write!(s, "<p class=\"fail\">EVIDENCE LOST: {}</p>", esc(e));
    }
    let _ = writeln!(
        s,
        "<p>Evidence: <a href=\"report.json\">report.json</a>, <a href=\"junit.xml\">junit.xml</a>, in {}</p></body></html>",
        esc(&r.run_dir)
    );
    s
}

/// One square per iteration, coloured by outcome, its outcome and time as a tooltip.
fn timeline(run: &CaseRun) -> String {
    let mut svg = format!("<svg width=\"{}\" height=\"14\">", 14 * run.iterations.len().max(1));
    for (k, it) in run.iterations.iter().enumerate() {
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"1\" width=\"12\" height=\"12\" fill=\"{}\"><title>iteration {}: {} ({:.1} s, {} reloads ok)</title></rect>",
            14 * k,
            colour(&it.outcome),
            it.index,
            it.outcome.word(),
            it.secs,
            it.reloads.reloads_ok
        );
    }
    svg + "</svg>"
}

/// A comparison: each build's hit rate as a bar with its 95% interval, then the conclusions.
fn comparison(s: &mut String, c: &Comparison) {
    const W: f64 = 300.0;
    let _ = write!(s, "<h3>{} on {}: hunting {}</h3>", esc(&c.case), esc(&c.cpu), esc(&c.hunts));
    let _ = write!(s, "<svg class=\"chart\" width=\"520\" height=\"{}\">", 24 * c.builds.len() + 20);
    for (k, b) in c.builds.iter().enumerate() {
        let y = 24 * k;
        let (lo, hi) = b.ci95;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"200\" y=\"{}\" width=\"{:.1}\" height=\"14\" fill=\"#d33\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}/{}</text>",
            y + 12,
            esc(&b.image),
            y + 1,
            W * b.rate,
            200.0 + W * lo,
            200.0 + W * hi,
            y + 8,
            y + 8,
            200.0 + W + 5.0,
            y + 12,
            b.hits,
            b.iterations
        );
    }
    let _ = write!(
        s,
        "<text x=\"200\" y=\"{}\" font-size=\"10\">0%</text><text x=\"{}\" y=\"{}\" font-size=\"10\">100%</text></svg><ul>",
        24 * c.builds.len() + 14,
        200.0 + W - 20.0,
        24 * c.builds.len() + 14
    );
    for b in &c.builds {
        let _ = write!(s, "<li>{}: {}</li>", esc(&b.image), esc(&b.verdict_line()));
    }
    for k in &c.conclusions {
        let _ = write!(s, "<li><b>{}</b></li>", esc(&k.text));
    }
    s.push_str("</ul>");
}

/// Marks the lines of a console excerpt that tell of the crash (as the `dialects` say).
fn marked(excerpt: &str, dialects: &[&'static dyn Dialect]) -> String {
    excerpt
        .lines()
        .map(|l| if dialects.iter().any(|d| d.marks(l)) { format!("<mark>{}</mark>", esc(l)) } else { esc(l) })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The details of an iteration that did not complete.
fn failing(s: &mut String, r: &RunReport, run: &CaseRun, it: &IterationResult) {
    let _ = write!(
        s,
        "<h3 id=\"{}-{}-{}-{}\">{} on {} ({}), iteration {}: {}</h3>",
        esc(&run.case),
        esc(&run.cpu),
        esc(&run.image),
        it.index,
        esc(&run.case),
        esc(&run.cpu),
        esc(&run.image),
        it.index,
        it.outcome.word()
    );
    let ev = |f: &str| href(&r.run_dir, &format!("{}/{f}", it.evidence));
    let mut links: Vec<String> =
        ["ttyS0.log", "qmp.log", "qemu.cmdline"].iter().map(|f| format!("<a href=\"{}\">{f}</a>", ev(f))).collect();
    let iter_dir = format!("iteration-{}", it.index);
    links.push(format!("<a href=\"{}\">{iter_dir}/</a>", ev(&iter_dir)));
    match &it.outcome {
        Outcome::Panic { report, title, excerpt, triage, .. } => {
            let _ = write!(s, "<p class=\"fail\">{}</p>", esc(title));
            if let Some(rep) = report.as_ref().filter(|r| !r.frames.is_empty()) {
                let frames: Vec<String> = rep.frames.iter().take(16).map(|f| esc(&f.function)).collect();
                let _ = write!(s, "<p>stack: {}</p>", frames.join(" &larr; "));
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
                let _ = write!(s, "<p>open the dump: <code>{}</code></p>", esc(cmd));
            }
        }
        Outcome::Hang { awaited, tail, .. } => {
            let _ = write!(s, "<p class=\"fail\">hung during: {}</p><pre>{}</pre>", esc(awaited), esc(tail));
            links.push(format!("<a href=\"{}\">registers.txt</a>", ev(&format!("{iter_dir}/registers.txt"))));
        }
        o => {
            let _ = write!(s, "<pre>{}</pre>", esc(&crate::report::junit::detail(o)));
        }
    }
    for d in it.outcome.dumps() {
        links.push(match (&d.skipped, &d.error) {
            (None, None) => {
                format!("<a href=\"{}\">{}</a>", href(&r.run_dir, &d.path.display().to_string()), esc(&d.summary()))
            }
            _ => esc(&d.summary()),
        });
    }
    let _ = write!(s, "<p class=\"links\">{}</p>", links.join(" &middot; "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_links_are_relative() {
        assert_eq!(esc("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
        assert_eq!(href("/runs/r1", "/runs/r1/case_epyc_linux/boot-1/ttyS0.log"), "case_epyc_linux/boot-1/ttyS0.log");
        assert_eq!(href("/runs/r1", "/elsewhere/x.kdump"), "/elsewhere/x.kdump");
    }

    #[test]
    fn a_comparison_draws_each_build_with_its_interval() {
        let build = |image: &str, hits: u32, ci: (f64, f64)| {
            serde_json::json!({"image": image, "iterations": 10, "panics": hits, "hits": hits, "rate": f64::from(hits) / 10.0,
                "ci95": [ci.0, ci.1], "titles": [], "verdict": format!("{hits}/10")})
        };
        let c: Comparison = serde_json::from_value(serde_json::json!({
            "case": "os-7410-miniature", "cpu": "epyc", "hunts": "kernel BUG in vmm_zsd_destroy",
            "builds": [build("debug", 10, (0.72, 1.0)), build("fixed", 0, (0.0, 0.28))],
            "conclusions": [{"candidate": "fixed", "status": "fixed", "p_value": 5.4e-6, "text": "FIXED: fixed 0/10 against debug 10/10"}],
        }))
        .unwrap();
        let mut s = String::new();
        comparison(&mut s, &c);
        assert!(s.contains("<rect x=\"200\" y=\"1\" width=\"300.0\""), "the debug build's full bar: {s}");
        assert!(s.contains("<line x1=\"416.0\" x2=\"500.0\""), "its interval, 72-100%: {s}");
        assert!(s.contains("<rect x=\"200\" y=\"25\" width=\"0.0\""), "the fixed build's empty bar: {s}");
        assert!(s.contains("<li><b>FIXED: fixed 0/10 against debug 10/10</b></li>"), "{s}");
    }

    /// The verdict cell's colour comes from the verdict, not from its text: a case that could
    /// not run is not coloured even when its reason starts with FAIL.
    #[test]
    fn verdict_cells_are_coloured_by_verdict() {
        use crate::results::fixture::{case_run, iterations, report};
        let mut not_run = case_run("linux", vec![]);
        not_run.not_run = Some(Outcome::Infra { reason: "FAILED to start QEMU".into() });
        let mut compared = case_run("linux", iterations(&[true], "kernel BUG in f"));
        compared.compared = true;
        let runs = vec![
            case_run("linux", iterations(&[false], "")),
            case_run("linux", iterations(&[true], "kernel BUG in f")),
            not_run,
            compared,
        ];
        let page = render(&report(runs));
        let cells: Vec<&str> = page.split("<td class=\"").skip(1).map(|c| c.split("</td>").next().unwrap()).collect();
        assert_eq!(cells, ["pass\">pass", "fail\">FAIL", "\">FAILED to start QEMU", "\">compared below"], "{page}");
    }

    #[test]
    fn panic_lines_are_marked() {
        let m = marked(
            "[  1.0] sysrq: Trigger a crash\n[  1.1] Kernel panic - not syncing: sysrq <crash>\nend",
            &[&crate::guest_os::linux::LinuxDialect],
        );
        assert_eq!(
            m,
            "[  1.0] sysrq: Trigger a crash\n<mark>[  1.1] Kernel panic - not syncing: sysrq &lt;crash&gt;</mark>\nend"
        );
    }
}
