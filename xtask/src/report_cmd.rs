//! `cargo xtask report merge`: joins the reports of a sharded campaign into one verdict (and
//! records it in the history, where it replaces its shards).

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
    /// exits like a single run would have (3 when a shard stopped early or never finished).
    /// Refuses reports of different campaigns (accelerator, seed), of another schema or with a
    /// negative time, and an --out that holds one of the inputs, is a file or is the runs root.
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
        if same_dir(file.parent(), out) {
            eprintln!(
                "error: --out {} holds the input {}: merging there would overwrite it; choose another directory",
                out.display(),
                file.display()
            );
            return Ok(exit::USAGE);
        }
        let text = match std::fs::read(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return Ok(exit::USAGE);
            }
        };
        match serde_json::from_slice::<rig::results::RunReport>(&text) {
            Ok(r) => parsed.push((file.display().to_string(), r)),
            Err(e) => {
                eprintln!("error: {}: not a rig report.json: {e}", file.display());
                return Ok(exit::USAGE);
            }
        }
    }
    if let Some(why) = unusable_out(out) {
        eprintln!("error: --out {}: {why}; choose a directory of its own", out.display());
        return Ok(exit::USAGE);
    }
    let merged = match rig::report::merge::merge_named(parsed) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    rig::report::write(out, &merged).with_context(|| format!("writing the merged report to {}", out.display()))?;
    rig::history::record_or_warn(&crate::paths::build_dir(), &merged, out);
    out!("{}", rig::report::table::render(&merged));
    crate::out::ci_summary(&merged);
    outln!("merged report: {}  page: {}", out.join("report.json").display(), out.join("index.html").display());
    // A shard that stopped early leaves the campaign incomplete: not a pass.
    Ok(match merged.exit_code() {
        0 if merged.stopped_early.is_some() => exit::INFRA,
        code => code,
    })
}

/// Why `out` cannot take the merged report: it is a file (or inside one), or the runs root,
/// where every run makes its own directory.
fn unusable_out(out: &std::path::Path) -> Option<String> {
    let existing = out.ancestors().find(|p| p.exists())?;
    match std::fs::metadata(existing) {
        Ok(m) if !m.is_dir() => {
            Some(format!("{} is {}, not a directory", existing.display(), rig::file_kind::describe(&m)))
        }
        _ if same_dir(Some(&crate::paths::runs_dir()), out) => {
            Some("that is the runs root, where every run makes its own directory".into())
        }
        _ => None,
    }
}

/// Whether `dir` (a report's directory) is `out`, comparing canonical paths when both exist.
fn same_dir(dir: Option<&std::path::Path>, out: &std::path::Path) -> bool {
    let dir = match dir {
        Some(d) if d.as_os_str().is_empty() => std::path::Path::new("."),
        Some(d) => d,
        None => return false,
    };
    match (dir.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
