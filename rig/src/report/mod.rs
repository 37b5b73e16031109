//! Run reports, written from [`crate::results`]: `report.json`, JUnit XML and the human table.

pub mod crash_blocks;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod merge;
pub mod page_header;
pub mod story_page;
pub mod table;
pub mod verdicts;

use std::path::Path;

use crate::results::RunReport;

/// Writes `report.json`, `junit.xml` and the page `index.html` into `dir` (replacing earlier
/// versions atomically, so an interrupted run still leaves a complete report of what ran).
pub fn write(dir: &Path, report: &RunReport) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    replace(&dir.join("report.json"), &json)?;
    replace(&dir.join("junit.xml"), junit::render(report).as_bytes())?;
    replace(&dir.join("index.html"), html::render(report).as_bytes())
}

fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
