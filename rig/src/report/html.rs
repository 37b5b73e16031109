//! `index.html`: the run as one self-contained page (inline CSS and SVG, no network), readable
//! offline and as a CI artifact. Its header (when, where, what, how to replay), the outcome in
//! words, the campaign at a glance with an iteration timeline per case × CPU × image whose
//! squares link to their iterations, each comparison's hit rates with their 95% intervals
//! drawn, and one block per crash signature ([`super::crash_blocks`]). Links to the evidence
//! are relative, inside the run directory. Pure.

use std::fmt::Write as _;
use std::path::Path;

use super::table::{COLUMNS, VerdictCell, cells, verdict_cell};
use crate::results::compare::Comparison;
use crate::results::model::{CaseRun, RunReport};
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
pub(crate) fn href(run_dir: &str, path: &str) -> String {
    let rel = Path::new(path).strip_prefix(run_dir).map(|p| p.display().to_string()).unwrap_or(path.to_string());
    esc(&rel)
}

/// Long lines wrap (console lines, paths), `?` frames are grey, a linked iteration is lit.
const STYLE: &str = "body{font:14px sans-serif;margin:1.5em;max-width:75em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.pass{color:#282}.fail{color:#c22;font-weight:bold}\
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere}mark{background:#fcc}\
h3{margin-top:1.5em}p,td,code{overflow-wrap:anywhere}.unreliable{color:#999}#header th{background:#f6f6f6}\
.crash{border-top:2px solid #d33;margin-top:1.5em}:target{background:#ff0;outline:2px solid #d33}";

/// Squares per row of a timeline.
const TIMELINE_ROW: usize = 50;

/// The page.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let headline = super::markdown::headline(r);
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>rig: {}</title><style>{STYLE}</style></head><body>\
         <h1 id=\"headline\">rig: {}</h1>",
        esc(&headline),
        esc(&headline),
    );
    super::page_header::render(&mut s, r);
    let heads: String = COLUMNS.iter().map(|h| format!("<th>{h}</th>")).collect();
    let _ = write!(s, "<h2>Runs</h2><table id=\"runs\"><tr>{heads}<th>iterations</th></tr>");
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
        let _ = write!(s, "<tr>{tds}<td class=\"{class}\">{}</td><td>{}</td></tr>", esc(verdict), timeline(r, run));
    }
    s.push_str("</table><p>Timeline: <span style=\"color:#3a3\">completed</span>, <span style=\"color:#d33\">panic</span>, \
                <span style=\"color:#83c\">hang</span>, <span style=\"color:#e90\">step failed</span>, <span style=\"color:#999\">infrastructure</span>; \
                a square leads to its iteration.</p>");
    for c in &r.comparisons {
        comparison(&mut s, c);
    }
    super::crash_blocks::render(&mut s, r);
    for e in &r.evidence_errors {
        let _ = write!(s, "<p class=\"fail\">EVIDENCE LOST: {}</p>", esc(e));
    }
    let _ = writeln!(
        s,
        "<p>Evidence: <a href=\"report.json\">report.json</a>, <a href=\"junit.xml\">junit.xml</a>, in {}</p></body></html>",
        esc(&super::page_header::shown_dir(&r.run_dir))
    );
    s
}

/// One square per iteration, rows of [`TIMELINE_ROW`], coloured by outcome, with its outcome
/// and time as a tooltip; a square leads to its iteration's block on the page (one that did
/// not complete) or to its console log.
fn timeline(r: &RunReport, run: &CaseRun) -> String {
    let n = run.iterations.len();
    let (w, h) = (14 * n.clamp(1, TIMELINE_ROW), 14 * n.div_ceil(TIMELINE_ROW).max(1));
    let mut svg = format!("<svg width=\"{w}\" height=\"{h}\">");
    for (k, it) in run.iterations.iter().enumerate() {
        let link = match it.outcome {
            Outcome::Completed => href(&r.run_dir, &format!("{}/ttyS0.log", it.evidence)),
            _ => format!("#{}", super::crash_blocks::anchor(run, it.index)),
        };
        let _ = write!(
            svg,
            "<a href=\"{link}\"><rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"><title>iteration {}: {} ({:.1} s, {} reloads ok)</title></rect></a>",
            14 * (k % TIMELINE_ROW),
            1 + 14 * (k / TIMELINE_ROW),
            colour(&it.outcome),
            it.index,
            it.outcome.word(),
            it.secs,
            it.reloads.reloads_ok
        );
    }
    svg + "</svg>"
}

/// Room a chart gives a label, in pixels per character (12 px sans-serif, wide glyphs).
const LABEL_PX_PER_CHAR: usize = 8;

/// Characters of an image's name that fit left of a chart's bars; longer ones are cut with
/// `…` and keep the whole name as their tooltip.
const NAME_CHARS: usize = 200 / LABEL_PX_PER_CHAR - 1;

/// A comparison: each build's hit rate as a bar with its 95% interval, then the conclusions.
/// Its width leaves each label the room it needs.
fn comparison(s: &mut String, c: &Comparison) {
    const W: f64 = 300.0;
    let labels: Vec<String> = c.builds.iter().map(|b| format!("{}/{}", b.hits, b.iterations)).collect();
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let width = 200 + W as usize + 5 + LABEL_PX_PER_CHAR * widest + 5;
    let _ = write!(s, "<h3>{} on {}: hunting {}</h3>", esc(&c.case), esc(&c.cpu), esc(&c.hunts));
    let _ = write!(s, "<svg class=\"chart\" width=\"{width}\" height=\"{}\">", 24 * c.builds.len() + 20);
    for ((k, b), label) in c.builds.iter().enumerate().zip(&labels) {
        let y = 24 * k;
        let (lo, hi) = b.ci95;
        let name = if b.image.chars().count() > NAME_CHARS {
            b.image.chars().take(NAME_CHARS - 1).collect::<String>() + "…"
        } else {
            b.image.clone()
        };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"12\">{}<title>{}</title></text><rect x=\"200\" y=\"{}\" width=\"{:.1}\" height=\"14\" fill=\"#d33\"/>\
             <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\"/><text class=\"rate\" x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            y + 12,
            esc(&name),
            esc(&b.image),
            y + 1,
            W * b.rate,
            200.0 + W * lo,
            200.0 + W * hi,
            y + 8,
            y + 8,
            200.0 + W + 5.0,
            y + 12,
            label
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
        // Every rate label fits inside the chart ("10/10" was cut to "1/:" at 520 px), and a long
        // image name is cut before the bars, keeping its whole name as a tooltip.
        let width: usize =
            s.split("class=\"chart\" width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        for label in s.split("<text class=\"rate\" x=\"").skip(1) {
            let x: f64 = label.split('"').next().unwrap().parse().unwrap();
            let text = label.split('>').nth(1).unwrap().split('<').next().unwrap();
            assert!(x as usize + LABEL_PX_PER_CHAR * text.len() <= width, "{text} at {x} in {width}: {s}");
        }
        let mut long = c.clone();
        long.builds[0].image = "linux-os7410-debug-with-a-very-long-build-name".into();
        let mut s = String::new();
        comparison(&mut s, &long);
        assert!(
            s.contains(">linux-os7410-debug-with…<title>linux-os7410-debug-with-a-very-long-build-name</title>"),
            "{s}"
        );
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
}
