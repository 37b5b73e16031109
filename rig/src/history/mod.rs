//! The history of every run: an SQLite database (`<build>/history.sqlite`) of runs, their
//! case × CPU × image entries, iterations, crash titles and signatures, evidence and dumps.
//!
//! Written at the end of every run and by `report merge`; filled from old run directories by
//! `history import`. Several rigs on one host share it: the file is in WAL mode, every writer
//! waits up to [`BUSY_TIMEOUT`] for another, and a run is recorded in one transaction. A file
//! that is not the rig's database, or is of a newer schema, is refused before anything is
//! written to it.

pub mod import;
pub mod query;
pub mod record;
pub mod render;
pub mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags};

/// How long a writer waits for another rig's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The history database: `$RIG_HISTORY` when set (a file kept outside the repository, so
/// `git clean -fdx` does not lose it), else `history.sqlite` in the build directory. Every
/// reader and writer of the history goes through here.
pub fn path(build_dir: &Path) -> PathBuf {
    std::env::var_os("RIG_HISTORY")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| build_dir.join("history.sqlite"))
}

/// An open history database.
pub struct History {
    conn: Connection,
    path: PathBuf,
}

impl History {
    /// Opens (creating it if missing) and migrates the database at `path`. Refuses, naming the
    /// file and leaving it as it is, a file that is not SQLite, another program's database, or
    /// a schema newer than this code's.
    pub fn open(path: &Path) -> Result<History> {
        if path.exists() {
            check(path)?;
        } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        configure(&conn).with_context(|| format!("opening {}", path.display()))?;
        schema::migrate(&mut conn).with_context(|| format!("{}", path.display()))?;
        Ok(History { conn, path: path.to_path_buf() })
    }

    /// Opens an existing database: None when there is no file yet, or an empty one (a query
    /// creates or writes neither). Like [`History::open`], it migrates a database of an older
    /// schema.
    pub fn open_existing(path: &Path) -> Result<Option<History>> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Ok(m) if m.is_file() && m.len() == 0 => Ok(None),
            _ => History::open(path).map(Some),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Looks at an existing file read-only: fails when it must not be written.
fn check(path: &Path) -> Result<()> {
    let what = || format!("{} is not a usable rig history database", path.display());
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(what)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let stamp = schema::stamp(&conn).with_context(what)?;
    if let Some(why) = schema::refusal(stamp) {
        bail!("{}: {why}", what());
    }
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL is a property of the file: set once, by whichever rig gets there first. Switching to
    // it needs the file to itself, and SQLite answers "database is locked" at once (its busy
    // handler is not called) when two new connections race for a new file: try again then,
    // within the busy timeout.
    let mode = while_busy(|| conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)))?;
    let mode = if mode.eq_ignore_ascii_case("wal") {
        mode
    } else {
        while_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))?
    };
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!("the history database is in journal mode {mode}, not WAL");
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
}

/// `f` again while it fails with SQLITE_BUSY, up to [`BUSY_TIMEOUT`].
fn while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

/// Records a finished run's report into `<build_dir>/history.sqlite`; a failure is a warning
/// on stderr, never an error of the run.
pub fn record_or_warn(build_dir: &Path, report: &crate::results::RunReport, source: &Path) {
    let file = path(build_dir);
    let done = History::open(&file)
        .and_then(|mut h| h.record(report, source).with_context(|| format!("recording in {}", file.display())));
    if let Err(e) = done {
        eprintln!("warning: the run was not recorded in the history: {e:#}");
    }
}
