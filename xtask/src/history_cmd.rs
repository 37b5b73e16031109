//! `cargo xtask history`: the runs recorded in `<build>/history.sqlite`, where a crash was
//! seen, and importing run directories (CI artifacts) into it.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use rig::history::{History, render};

use crate::exit;

/// Arguments of `cargo xtask history`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    command: Option<HistoryCommand>,
    /// How many recent runs to list.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Where a crash was seen instead: first and last seen, the runs, cases and builds that
    /// hit it with their rates, and the evidence. TEXT is a crash title (case-insensitive), or
    /// part of titles or of their stack frames.
    #[arg(long, value_name = "TEXT")]
    signature: Option<String>,
}

#[derive(Subcommand, Debug)]
enum HistoryCommand {
    /// Record existing run directories: each DIR a run directory holding report.json, or a
    /// directory of them (CI artifacts from many runners). Importing a run again replaces it.
    Import {
        /// Run directories, or directories of run directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

/// Runs the command; returns the exit code (2 for a missing directory or a bad file).
pub fn run(a: &HistoryArgs) -> Result<i32> {
    let file = rig::history::path(&crate::paths::build_dir());
    if let Some(HistoryCommand::Import { dirs }) = &a.command {
        return import(&file, dirs);
    }
    let mut h = match History::open_existing(&file) {
        Ok(Some(h)) => h,
        Ok(None) => {
            outln!("no history yet: {} does not exist or is empty (every run writes it)", file.display());
            return Ok(exit::OK);
        }
        Err(e) => return bad(e),
    };
    // A database SQLite could open but not read (damaged pages) is a bad file too, named.
    query(&mut h, a).or_else(|e| bad(e.context(format!("reading {}", file.display()))))
}

/// The recent runs, or where the crashes matching `--signature` were seen.
fn query(h: &mut History, a: &HistoryArgs) -> Result<i32> {
    let Some(text) = &a.signature else {
        out!("{}", render::runs(&h.recent_runs(a.limit)?));
        return Ok(exit::OK);
    };
    let titles = h.titles_matching(text, false)?;
    if titles.is_empty() {
        outln!("no crash matching '{text}' in {}", h.path().display());
    }
    for (i, t) in titles.iter().enumerate() {
        if let Some(s) = h.sightings(t)? {
            out!("{}{}", if i > 0 { "\n" } else { "" }, render::sightings(&s));
        }
    }
    Ok(exit::OK)
}

fn import(file: &std::path::Path, dirs: &[PathBuf]) -> Result<i32> {
    let mut run_dirs = Vec::new();
    for d in dirs {
        match rig::history::import::run_dirs(d) {
            Ok(found) => run_dirs.extend(found),
            Err(e) => return bad(e),
        }
    }
    let mut h = match History::open(file) {
        Ok(h) => h,
        Err(e) => return bad(e),
    };
    let mut code = exit::OK;
    for d in &run_dirs {
        match h.import(d) {
            Ok(done) => outln!("{}: {}", d.display(), done.word()),
            Err(e) => {
                eprintln!("error: {e:#}");
                code = exit::USAGE;
            }
        }
    }
    outln!("history: {}", file.display());
    Ok(code)
}

/// A bad directory or database file: said, exit 2.
fn bad(e: anyhow::Error) -> Result<i32> {
    eprintln!("error: {e:#}");
    Ok(exit::USAGE)
}
