//! `cargo xtask report merge`: joins the reports of a sharded campaign into one verdict.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::exit;

/// Arguments of `cargo xtask report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(subcommand)]
    command: ReportCommand,
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Merge the report.json files of `--shard K/N` runs: iterations put together, counts and
    /// buggy-versus-fixed statistics recomputed. Writes report.json and junit.xml to --out and
    /// exits like a single run would have.
    Merge {
        /// report.json files (or run directories holding one).
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Where the merged report.json and junit.xml go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Runs the command; returns the exit code.
pub fn run(a: &ReportArgs) -> Result<i32> {
    let ReportCommand::Merge { reports, out } = &a.command;
    let mut parsed = Vec::new();
    for p in reports {
        let file = if p.is_dir() { p.join("report.json") } else { p.clone() };
        let text = match std::fs::read(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return Ok(exit::USAGE);
            }
        };
        match serde_json::from_slice::<rig::report::RunReport>(&text) {
            Ok(r) => parsed.push(r),
            Err(e) => {
                eprintln!("error: {}: not a rig report.json: {e}", file.display());
                return Ok(exit::USAGE);
            }
        }
    }
    let merged = match rig::report::merge::merge(parsed) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    rig::report::write(out, &merged).with_context(|| format!("writing the merged report to {}", out.display()))?;
    print!("{}", rig::report::table::render(&merged));
    println!("merged report: {}", out.join("report.json").display());
    Ok(merged.exit_code())
}
