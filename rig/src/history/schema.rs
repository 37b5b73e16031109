//! The history database's tables and their versioned migrations (`PRAGMA user_version`).
//!
//! Migration `i` takes a database from version `i` to `i + 1`; a new file is version 0 and
//! gets every migration in order. A file newer than [`LATEST`] is refused, never touched.

use anyhow::{Result, bail};
use rusqlite::{Connection, TransactionBehavior};

/// Marks a database as the rig's (`PRAGMA application_id`, "rigH"), so another program's
/// SQLite file is refused instead of having tables added to it.
pub const APPLICATION_ID: i32 = 0x7269_6748;

/// The migrations, in order: entry `i` goes from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs, the case × CPU × image entries, their iterations and the dumps kept.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        run_dir TEXT NOT NULL,          -- as the report names it
        seed TEXT NOT NULL,             -- a u64, in decimal
        source TEXT NOT NULL,           -- the directory the report was read from
        ended_at INTEGER NOT NULL,      -- unix seconds: report.json's mtime, else the recording time
        recorded_at INTEGER NOT NULL,   -- unix seconds
        accel TEXT NOT NULL,
        shard TEXT,                     -- K/N of a sharded run
        merged INTEGER NOT NULL,        -- 1: merged from shards (which it supersedes)
        finished INTEGER NOT NULL,
        stopped_early TEXT,
        exit_code INTEGER NOT NULL,
        UNIQUE (run_dir, seed)
    );
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        file TEXT NOT NULL,
        cpu TEXT NOT NULL,
        image TEXT NOT NULL,
        image_key TEXT,                 -- the image's build identity, when it could be resolved
        mode TEXT NOT NULL,
        planned INTEGER NOT NULL,
        ran INTEGER NOT NULL,
        panics INTEGER NOT NULL,
        hangs INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        not_run TEXT
    );
    CREATE INDEX cases_run ON cases(run_id);
    CREATE TABLE iterations (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        outcome TEXT NOT NULL,          -- completed, panic, hang, step_failed, infra, skipped
        verdict TEXT NOT NULL,
        secs REAL NOT NULL,
        evidence TEXT NOT NULL,
        title TEXT,                     -- a panic's crash title
        kind TEXT,                      -- the crash kind (bug, assertion, ...)
        frames TEXT                     -- the signature's reliable frames, innermost first, one a line
    );
    CREATE INDEX iterations_case ON iterations(case_id);
    CREATE INDEX iterations_title ON iterations(title COLLATE NOCASE);
    CREATE TABLE dumps (
        iteration_id INTEGER NOT NULL REFERENCES iterations(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        bytes INTEGER NOT NULL
    );
    CREATE INDEX dumps_iteration ON dumps(iteration_id);",
];

/// The schema version this code writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// What a file says about itself before anything is written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// `PRAGMA user_version`.
    pub version: u32,
    /// `PRAGMA application_id`.
    pub application_id: i32,
    /// Tables it holds.
    pub tables: u32,
}

/// Reads a connection's [`Stamp`], in one statement so that a migration another rig commits
/// meanwhile is seen whole or not at all; fails on a file that is not SQLite.
pub fn stamp(conn: &Connection) -> rusqlite::Result<Stamp> {
    conn.query_row(
        "SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id),
                (SELECT count(*) FROM sqlite_master WHERE type = 'table')",
        [],
        |r| Ok(Stamp { version: r.get(0)?, application_id: r.get(1)?, tables: r.get(2)? }),
    )
}

/// Why this code must not write a database with this stamp, if it must not.
pub fn refusal(s: Stamp) -> Option<String> {
    if s.version > LATEST {
        return Some(format!(
            "its schema is version {}, newer than this rig's {LATEST}: update the rig (the file is left as it is)",
            s.version
        ));
    }
    if s.application_id != APPLICATION_ID && (s.tables > 0 || s.version > 0) {
        return Some(format!(
            "it is an SQLite database of another program (application_id {:#x}, {} tables): not touched",
            s.application_id, s.tables
        ));
    }
    None
}

/// Brings the database up to [`LATEST`], one migration per transaction (taken with a write
/// lock at once, so two rigs migrating together wait for each other instead of failing).
pub fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let s = stamp(&tx)?;
        if let Some(why) = refusal(s) {
            bail!("{why}");
        }
        if s.version == LATEST {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[s.version as usize])?;
        tx.pragma_update(None, "user_version", s.version + 1)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
}
