//! Corpus cases (one console log per file with its expected titles) and the scorecard over them.
//!
//! File format (syzkaller's): header lines (`TITLE:`, `ALT:`, `CORRUPTED: Y`, `ORIGIN:`, ...),
//! one blank line, then the raw console text; a `REPORT:` line, where present, ends the log.

use super::report::{CrashReport, Os};
use super::stream::{Dialect, read_all};
use std::path::{Path, PathBuf};

/// One corpus case.
#[derive(Clone, Debug)]
pub struct Case {
    /// The file it came from.
    pub path: PathBuf,
    /// Expected titles, in order; empty means "no crash".
    pub titles: Vec<String>,
    /// Alternative titles of the same bug.
    pub alt_titles: Vec<String>,
    /// The case says the report is truncated or mangled.
    pub corrupted: bool,
    /// Where the text came from (`ORIGIN:`), if stated.
    pub origin: Option<String>,
    /// The OS that wrote it (`OS: linux|illumos`), if stated.
    pub os: Option<Os>,
    /// The forms the text is in (`FORM: syslog mdb-C truncated`): what the scorecard groups by.
    pub forms: Vec<String>,
    /// The expected certainty of the first title (`CERTAINTY: frame|truncated|no_frame|guessed`).
    pub certainty: Option<String>,
    /// The raw console text.
    pub text: Vec<u8>,
}

/// Parses one case file's bytes.
pub fn parse_case(path: &Path, bytes: &[u8]) -> Case {
    let mut case = Case {
        path: path.to_path_buf(),
        titles: Vec::new(),
        alt_titles: Vec::new(),
        corrupted: false,
        origin: None,
        os: None,
        forms: Vec::new(),
        certainty: None,
        text: Vec::new(),
    };
    let mut pos = 0;
    while pos < bytes.len() {
        let end = bytes[pos..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| pos + i);
        let line = String::from_utf8_lossy(&bytes[pos..end]);
        pos = end + 1;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().to_string();
            match key {
                "TITLE" => case.titles.push(value),
                "ALT" => case.alt_titles.push(value),
                "CORRUPTED" => case.corrupted = value == "Y",
                "ORIGIN" => case.origin = Some(value),
                "OS" => case.os = (!value.is_empty()).then(|| Os::named(&value)),
                "FORM" => case.forms = value.split_whitespace().map(str::to_string).collect(),
                "CERTAINTY" => case.certainty = Some(value),
                _ => {}
            }
        }
    }
    let body = &bytes[pos.min(bytes.len())..];
    let cut = find_line(body, b"REPORT:").unwrap_or(body.len());
    case.text = body[..cut].to_vec();
    case
}

fn find_line(body: &[u8], want: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while pos < body.len() {
        let end = body[pos..].iter().position(|&b| b == b'\n').map_or(body.len(), |i| pos + i);
        let line = &body[pos..end];
        if line.strip_suffix(b"\r").unwrap_or(line) == want {
            return Some(pos);
        }
        pos = end + 1;
    }
    None
}

/// Loads every case file of a directory (sorted by name; dot-files skipped).
pub fn load_dir(dir: &Path) -> std::io::Result<Vec<Case>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    paths.iter().map(|p| Ok(parse_case(p, &std::fs::read(p)?))).collect()
}

/// One case the reader got wrong.
#[derive(Clone, Debug)]
pub struct Miss {
    /// The case file.
    pub path: PathBuf,
    /// The expected first title (`None`: no crash expected).
    pub want: Option<String>,
    /// The first title read (`None`: no crash read).
    pub got: Option<String>,
}

/// Crash/no-crash and title agreement over a corpus.
#[derive(Clone, Debug, Default)]
pub struct Score {
    /// Cases read.
    pub cases: usize,
    /// Cases where "is there a crash" was answered right.
    pub crash_agree: usize,
    /// Cases that expect a crash.
    pub with_title: usize,
    /// Cases whose first title was read exactly.
    pub title_agree: usize,
    /// Every disagreement.
    pub misses: Vec<Miss>,
}

impl Score {
    /// Crash/no-crash agreement in percent.
    pub fn crash_percent(&self) -> f64 {
        percent(self.crash_agree, self.cases)
    }

    /// Title agreement in percent, over the cases that expect a crash.
    pub fn title_percent(&self) -> f64 {
        percent(self.title_agree, self.with_title)
    }
}

fn percent(n: usize, d: usize) -> f64 {
    if d == 0 { 100.0 } else { n as f64 * 100.0 / d as f64 }
}

/// Reads every case with the given OS's reader and scores the result.
pub fn score(dialect: &'static dyn Dialect, cases: &[Case]) -> Score {
    let mut s = Score { cases: cases.len(), ..Score::default() };
    for case in cases {
        let reports: Vec<CrashReport> = read_all(dialect, &case.text);
        let want = case.titles.first().cloned();
        let got = reports.first().map(|r| r.title.clone());
        if want.is_some() == got.is_some() {
            s.crash_agree += 1;
        }
        if want.is_some() {
            s.with_title += 1;
            if want == got {
                s.title_agree += 1;
            }
        }
        if want != got {
            s.misses.push(Miss { path: case.path.clone(), want, got });
        }
    }
    s
}
