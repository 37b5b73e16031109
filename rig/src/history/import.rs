//! `history import`: records the run directories found under the directories given (each a
//! run directory holding `report.json`, or a directory of them, such as CI artifacts).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::History;
use super::record::Recorded;
use crate::results::RunReport;

/// The run directories `dir` stands for: itself when it holds `report.json`, else its
/// subdirectories that do (sorted). Fails when it is not a directory or holds no run.
pub fn run_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    if dir.join("report.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.join("report.json").is_file() {
            found.push(p);
        }
    }
    if found.is_empty() {
        bail!("{} holds no report.json, nor do its subdirectories", dir.display());
    }
    found.sort();
    Ok(found)
}

/// Reads a run directory's `report.json`.
pub fn read_report(run_dir: &Path) -> Result<RunReport> {
    let file = run_dir.join("report.json");
    let text = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{}: not a rig report.json", file.display()))
}

impl History {
    /// Records one run directory.
    pub fn import(&mut self, run_dir: &Path) -> Result<Recorded> {
        self.record(&read_report(run_dir)?, run_dir)
    }
}
