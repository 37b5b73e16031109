//! Recording a run's report: one transaction per run, keyed by its run directory and seed, so
//! recording the same run again replaces it instead of counting it twice.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{Transaction, TransactionBehavior, params};

use super::History;
use crate::results::Outcome;
use crate::results::{CaseRun, IterationResult, RunReport};

/// What recording a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A run not seen before.
    New,
    /// The same run (run directory and seed) was there: replaced.
    Replaced,
    /// A shard of a campaign whose merged report is already recorded: left out, so its
    /// iterations are not counted twice.
    Superseded,
}

impl Recorded {
    /// What happened, in a word or three.
    pub fn word(self) -> &'static str {
        match self {
            Recorded::New => "recorded",
            Recorded::Replaced => "recorded again (replaced)",
            Recorded::Superseded => "left out (its merged report is recorded)",
        }
    }
}

/// Where a report's paths are on this host: its run directory as recorded, or the directory
/// it was read from (a run directory copied from another runner).
struct Place<'a> {
    run_dir: &'a str,
    source: &'a Path,
}

impl Place<'_> {
    /// `p` as it exists here: unchanged when it does (or cannot be moved), else under the
    /// source directory.
    fn local(&self, p: &str) -> String {
        let path = Path::new(p);
        if path.exists() {
            return p.to_string();
        }
        match path.strip_prefix(self.run_dir) {
            Ok(rest) if self.source.join(rest).exists() => self.source.join(rest).display().to_string(),
            _ => p.to_string(),
        }
    }
}

impl History {
    /// Records `report`, read from (or written to) the directory `source`. A merged report
    /// replaces the records of its shards (same seed and accelerator, with a shard), and a
    /// shard recorded after its merged report is left out.
    pub fn record(&mut self, report: &RunReport, source: &Path) -> Result<Recorded> {
        let path = self.path.clone();
        let source = &source.canonicalize().unwrap_or_else(|_| source.to_path_buf());
        let now = unix(SystemTime::now());
        let ended_at = std::fs::metadata(source.join("report.json")).and_then(|m| m.modified()).map_or(now, unix);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate);
        let done = tx.map_err(anyhow::Error::from).and_then(|tx| {
            let done = insert(&tx, report, source, ended_at, now)?;
            tx.commit()?;
            Ok(done)
        });
        done.with_context(|| format!("recording {} in {}", report.run_dir, path.display()))
    }
}

fn insert(tx: &Transaction, r: &RunReport, source: &Path, ended_at: i64, now: i64) -> Result<Recorded> {
    let seed = r.seed.to_string();
    let merged = r.shard.is_none() && r.run_dir.starts_with("merged from shards");
    if r.shard.is_some() {
        let merged_there: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE merged = 1 AND seed = ?1 AND accel = ?2)",
            params![seed, r.accel],
            |row| row.get(0),
        )?;
        if merged_there {
            return Ok(Recorded::Superseded);
        }
    }
    if merged {
        tx.execute("DELETE FROM runs WHERE shard IS NOT NULL AND seed = ?1 AND accel = ?2", params![seed, r.accel])?;
    }
    let replaced = tx.execute("DELETE FROM runs WHERE run_dir = ?1 AND seed = ?2", params![r.run_dir, seed])? > 0;
    tx.execute(
        "INSERT INTO runs (run_dir, seed, source, ended_at, recorded_at, accel, shard, merged, finished,
                           stopped_early, exit_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            r.run_dir,
            seed,
            source.display().to_string(),
            ended_at,
            now,
            r.accel,
            r.shard,
            merged,
            r.finished,
            r.stopped_early.as_ref().map(ToString::to_string),
            r.exit_code()
        ],
    )?;
    let run_id = tx.last_insert_rowid();
    let place = Place { run_dir: &r.run_dir, source };
    for c in &r.runs {
        insert_case(tx, run_id, c, &place)?;
    }
    Ok(if replaced { Recorded::Replaced } else { Recorded::New })
}

fn insert_case(tx: &Transaction, run_id: i64, c: &CaseRun, place: &Place) -> Result<()> {
    let key = image_key(&c.image, c.iterations.first().map(|i| PathBuf::from(place.local(&i.evidence))));
    let not_run = c.not_run.as_ref().map(|o| o.word());
    tx.execute(
        "INSERT INTO cases (run_id, name, file, cpu, image, image_key, mode, planned, ran, panics, hangs,
                            verdict, not_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            run_id,
            c.case,
            c.file,
            c.cpu,
            c.image,
            key,
            c.mode.as_str(),
            c.iterations_planned,
            c.tally.ran,
            c.tally.panics,
            c.tally.hangs,
            format!("{:?}", c.verdict()).to_lowercase(),
            not_run
        ],
    )?;
    let case_id = tx.last_insert_rowid();
    for it in &c.iterations {
        insert_iteration(tx, case_id, it, place)?;
    }
    Ok(())
}

fn insert_iteration(tx: &Transaction, case_id: i64, it: &IterationResult, place: &Place) -> Result<()> {
    let (title, kind, frames) = match &it.outcome {
        Outcome::Panic { title, report, .. } => (
            Some(title.as_str()),
            report.as_ref().map(|r| r.kind.to_string()),
            report.as_ref().map(|r| r.fingerprint().frames.join("\n")),
        ),
        _ => (None, None, None),
    };
    tx.execute(
        "INSERT INTO iterations (case_id, idx, outcome, verdict, secs, evidence, title, kind, frames)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            case_id,
            it.index,
            it.outcome.word(),
            format!("{:?}", it.verdict).to_lowercase(),
            it.secs,
            place.local(&it.evidence),
            title,
            kind,
            frames
        ],
    )?;
    let id = tx.last_insert_rowid();
    for d in it.outcome.dumps().into_iter().filter(|d| d.ok()) {
        let p = place.local(&d.path.display().to_string());
        tx.execute("INSERT INTO dumps (iteration_id, path, bytes) VALUES (?1, ?2, ?3)", params![id, p, d.bytes])?;
    }
    Ok(())
}

/// The build identity (cache key) of `image`: read off the image directory QEMU was given
/// (`images/<image>-<key>/` in the evidence's `qemu.cmdline`), or the name's own suffix (coal
/// images are named `coal-<key>`). None when neither says.
pub fn image_key(image: &str, evidence: Option<PathBuf>) -> Option<String> {
    let is_key = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let cmdline = evidence.and_then(|e| std::fs::read_to_string(e.join("qemu.cmdline")).ok()).unwrap_or_default();
    let marker = format!("images/{image}-");
    let from_cmdline = cmdline.match_indices(&marker).find_map(|(at, _)| {
        let rest = &cmdline[at + marker.len()..];
        let key = rest.split('/').next()?;
        is_key(key).then(|| key.to_string())
    });
    from_cmdline.or_else(|| image.rsplit_once('-').map(|(_, k)| k).filter(|k| is_key(k)).map(str::to_string))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
