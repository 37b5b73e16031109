//! A reproduction's story (`rig::reproduce::story`) written out: `report.json` and a page,
//! `index.html`, in the reproduce run's directory, linking the runs it made. Pure but for the
//! writing.

use std::fmt::Write as _;
use std::path::Path;

use super::html::esc;
use crate::reproduce::story::Story;

/// Writes `report.json` (the story) and `index.html` into `dir`.
pub fn write(dir: &Path, story: &Story) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(story).map_err(std::io::Error::other)?;
    super::replace(&dir.join("report.json"), &json)?;
    super::replace(&dir.join("index.html"), render(story).as_bytes())
}

/// The page.
pub fn render(s: &Story) -> String {
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>reproduction</title><style>body{font:14px sans-serif;\
         margin:1.5em;max-width:75em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}\
         table{border-collapse:collapse}code{background:#f4f4f4}</style>",
    );
    let _ = write!(h, "<h1>Reproduction of <code>{}</code></h1><table>", esc(&s.signature));
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row("frames", esc(&s.frames.join(" < ")));
    row("case", format!("{} (<code>{}</code>)", esc(&s.case), esc(&s.case_file)));
    if let Some(w) = &s.window {
        row("window", format!("{}..{} ms at <code>{}</code>: {}", w.min_ms, w.max_ms, esc(&w.timing), w.rate));
        row("the case as it is", format!("{} (same run)", w.original));
        row("narrowed case", format!("<code>{}</code>", esc(&w.narrowed_case)));
    }
    row("reproduction rate", s.reproduction.map_or("not measured".into(), |r| r.to_string()));
    if let Some(b) = &s.bisection {
        row("first bad build", esc(b));
    }
    let _ = write!(h, "</table><h2>Rerun each step</h2><table>");
    for (step, cmd) in &s.commands {
        let _ = write!(h, "<tr><th>{}</th><td><code>{}</code></td></tr>", esc(step), esc(cmd));
    }
    h.push_str("</table>\n");
    h
}
