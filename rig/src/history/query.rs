//! Reading the history: the recent runs, and where a crash was seen.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::params;

use super::History;

/// A recorded run, summed up.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// The run directory as its report names it.
    pub run_dir: String,
    /// Where its report was read from.
    pub source: String,
    /// When it ended (unix seconds).
    pub ended_at: i64,
    /// The accelerator.
    pub accel: String,
    /// `K/N` of a shard.
    pub shard: Option<String>,
    /// The exit code the run had.
    pub exit_code: i32,
    /// Case × CPU × image entries.
    pub cases: u32,
    /// Iterations run.
    pub iterations: u32,
    /// Iterations that panicked.
    pub panics: u32,
    /// The distinct crash titles.
    pub titles: Vec<String>,
}

/// One case × CPU × image entry of a run that ran a case which hit the crash.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The run directory.
    pub run_dir: String,
    /// When the run ended (unix seconds).
    pub ended_at: i64,
    /// The case.
    pub case: String,
    /// The CPU model.
    pub cpu: String,
    /// The image.
    pub image: String,
    /// The image's build identity, when known.
    pub image_key: Option<String>,
    /// Iterations that hit the crash.
    pub hits: u32,
    /// Iterations run.
    pub ran: u32,
}

/// Hits of a crash on one build (image and key), over every entry of the cases that hit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRate {
    /// The image.
    pub image: String,
    /// Its build identity, when known.
    pub image_key: Option<String>,
    /// Iterations that hit the crash.
    pub hits: u32,
    /// Iterations those cases ran on this build.
    pub ran: u32,
    /// The cases that ran on it.
    pub cases: Vec<String>,
}

/// An iteration that hit the crash: where to look.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The iteration's evidence directory.
    pub dir: String,
    /// The dumps kept.
    pub dumps: Vec<String>,
}

/// Where one crash title was seen.
#[derive(Debug, Clone)]
pub struct Sightings {
    /// The crash title.
    pub title: String,
    /// Iterations that hit it.
    pub hits: u32,
    /// When the first and the last run that hit it ended (unix seconds).
    pub first_seen: i64,
    /// See `first_seen`.
    pub last_seen: i64,
    /// The entries that hit it, oldest first.
    pub entries: Vec<Entry>,
    /// Per build: hits over the iterations of the cases that hit it anywhere (a build that
    /// ran them without a hit shows 0).
    pub builds: Vec<BuildRate>,
    /// The iterations that hit it, newest first.
    pub evidence: Vec<Evidence>,
}

impl History {
    /// The `limit` most recent runs, newest first.
    pub fn recent_runs(&mut self, limit: u32) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare(
            "SELECT r.run_dir, r.source, r.ended_at, r.accel, r.shard, r.exit_code,
                    (SELECT count(*) FROM cases c WHERE c.run_id = r.id),
                    (SELECT coalesce(sum(c.ran), 0) FROM cases c WHERE c.run_id = r.id),
                    (SELECT coalesce(sum(c.panics), 0) FROM cases c WHERE c.run_id = r.id),
                    (SELECT group_concat(t, char(10)) FROM (SELECT DISTINCT i.title AS t FROM iterations i
                         JOIN cases c ON c.id = i.case_id WHERE c.run_id = r.id AND i.title IS NOT NULL))
             FROM runs r ORDER BY r.ended_at DESC, r.id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit], |row| {
            Ok(RunRow {
                run_dir: row.get(0)?,
                source: row.get(1)?,
                ended_at: row.get(2)?,
                accel: row.get(3)?,
                shard: row.get(4)?,
                exit_code: row.get(5)?,
                cases: row.get(6)?,
                iterations: row.get(7)?,
                panics: row.get(8)?,
                titles: lines(row.get(9)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The crash titles `text` names, case-insensitively: the title itself when one is exactly
    /// that, else every title containing it or whose signature's frames contain it
    /// (`vmm_zsd_destroy`). With `exact`, only the first kind.
    pub fn titles_matching(&mut self, text: &str, exact: bool) -> Result<Vec<String>> {
        let same = self.distinct_titles("title = ?1 COLLATE NOCASE", text)?;
        if exact || !same.is_empty() {
            return Ok(same);
        }
        self.distinct_titles("instr(lower(title), lower(?1)) > 0 OR instr(lower(frames), lower(?1)) > 0", text)
    }

    fn distinct_titles(&mut self, condition: &str, text: &str) -> Result<Vec<String>> {
        let sql =
            format!("SELECT DISTINCT title FROM iterations WHERE title IS NOT NULL AND ({condition}) ORDER BY title");
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([text], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Where the crash titled exactly `title` was seen; None when never.
    pub fn sightings(&mut self, title: &str) -> Result<Option<Sightings>> {
        let mut st = self.conn.prepare(
            "SELECT r.run_dir, r.ended_at, c.name, c.cpu, c.image, c.image_key, c.ran,
                    (SELECT count(*) FROM iterations i WHERE i.case_id = c.id AND i.title = ?1)
             FROM cases c JOIN runs r ON r.id = c.run_id
             WHERE c.name IN (SELECT DISTINCT c2.name FROM iterations i2 JOIN cases c2 ON c2.id = i2.case_id
                              WHERE i2.title = ?1)
             ORDER BY r.ended_at, c.id",
        )?;
        let all: Vec<Entry> = st
            .query_map([title], |row| {
                Ok(Entry {
                    run_dir: row.get(0)?,
                    ended_at: row.get(1)?,
                    case: row.get(2)?,
                    cpu: row.get(3)?,
                    image: row.get(4)?,
                    image_key: row.get(5)?,
                    ran: row.get(6)?,
                    hits: row.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        drop(st);
        let entries: Vec<Entry> = all.iter().filter(|e| e.hits > 0).cloned().collect();
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else { return Ok(None) };
        let (first_seen, last_seen) = (first.ended_at, last.ended_at);
        Ok(Some(Sightings {
            title: title.to_string(),
            hits: entries.iter().map(|e| e.hits).sum(),
            first_seen,
            last_seen,
            builds: build_rates(&all),
            evidence: self.evidence(title)?,
            entries,
        }))
    }

    fn evidence(&mut self, title: &str) -> Result<Vec<Evidence>> {
        let mut st = self.conn.prepare(
            "SELECT i.evidence, (SELECT group_concat(d.path, char(10)) FROM dumps d WHERE d.iteration_id = i.id)
             FROM iterations i JOIN cases c ON c.id = i.case_id JOIN runs r ON r.id = c.run_id
             WHERE i.title = ?1 ORDER BY r.ended_at DESC, i.id DESC",
        )?;
        let rows = st.query_map(params![title], |row| Ok(Evidence { dir: row.get(0)?, dumps: lines(row.get(1)?) }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The lines of a `group_concat(..., char(10))`, none for NULL.
fn lines(joined: Option<String>) -> Vec<String> {
    joined.map(|j| j.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// Sums entries per build (image and key), in the order builds first appear.
fn build_rates(entries: &[Entry]) -> Vec<BuildRate> {
    let mut order: Vec<(String, Option<String>)> = Vec::new();
    let mut by: BTreeMap<(String, Option<String>), BuildRate> = BTreeMap::new();
    // A case that ran no iteration there (skipped, interrupted) says nothing of a build's rate.
    for e in entries.iter().filter(|e| e.ran > 0) {
        let k = (e.image.clone(), e.image_key.clone());
        let b = by.entry(k.clone()).or_insert_with(|| {
            order.push(k);
            BuildRate { image: e.image.clone(), image_key: e.image_key.clone(), hits: 0, ran: 0, cases: Vec::new() }
        });
        b.hits += e.hits;
        b.ran += e.ran;
        if !b.cases.contains(&e.case) {
            b.cases.push(e.case.clone());
        }
    }
    order.into_iter().filter_map(|k| by.remove(&k)).collect()
}
