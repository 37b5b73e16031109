//! `cargo xtask runs prune`: removes old run directories from the runs root. Thin: parse,
//! call [`rig::rundir::prune`], print.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use rig::rundir::prune::{self, Keep};

use crate::exit;

/// Arguments of `cargo xtask runs`.
#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Subcommand, Debug)]
enum RunsCommand {
    /// Remove old run directories (those the rig named `<UTC time>-<label>`; nothing else in
    /// the root): beyond the newest N, or older than an age. Never the newest run, never a run
    /// that still goes.
    Prune {
        /// Keep the newest N runs, 1 or more.
        #[arg(long, value_name = "N", group = "which", value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
        /// Remove the runs made more than this long ago (e.g. `7d`, `12h`).
        #[arg(long, value_name = "DURATION", group = "which")]
        older_than: Option<String>,
        /// The runs root [default: build/runs in the workspace].
        #[arg(long, value_name = "DIR")]
        runs_dir: Option<PathBuf>,
    },
}

/// Runs the command; returns the exit code (2 for bad input, 3 when a run could not be removed).
pub fn run(a: &RunsArgs) -> Result<i32> {
    let RunsCommand::Prune { keep, older_than, runs_dir } = &a.command;
    let keep = match (keep, older_than) {
        (Some(n), _) => Keep::Newest(*n as usize),
        (None, Some(t)) => match humantime::parse_duration(t) {
            Ok(d) => Keep::Younger(d),
            Err(e) => return bad(&format!("--older-than '{t}': {e} (write it like 7d, 12h or 30m)")),
        },
        (None, None) => return bad("runs prune: say which runs go: --keep N or --older-than DURATION"),
    };
    let root = runs_dir.clone().unwrap_or_else(crate::paths::runs_dir);
    let done = match prune::prune(&root, keep) {
        Ok(d) => d,
        Err(e) => return bad(&format!("runs prune: {}: {e}", root.display())),
    };
    for (dir, bytes) in &done.removed {
        outln!("removed {} ({} MiB)", dir.display(), bytes >> 20);
    }
    for dir in &done.in_progress {
        outln!("kept {}: its run still goes", dir.display());
    }
    for (dir, why) in &done.failed {
        eprintln!("error: removing {}: {why}", dir.display());
    }
    let freed: u64 = done.removed.iter().map(|(_, b)| b).sum();
    outln!("{} run(s) removed, {} MiB freed, in {}", done.removed.len(), freed >> 20, root.display());
    Ok(if done.failed.is_empty() { exit::OK } else { exit::INFRA })
}

fn bad(why: &str) -> Result<i32> {
    eprintln!("error: {why}");
    Ok(exit::USAGE)
}
