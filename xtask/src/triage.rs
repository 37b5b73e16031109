//! `cargo xtask triage`: read a console log, syslog or mdb output and print its crash reports
//! (with `--history`, and where the rig reproduced each before).

use rig::crash::corpus::{load_dir, score};
use rig::crash::{CrashReport, Os, detect_os, read_all};
use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;

/// Which console grammar to read with.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsArg {
    /// Guess from the text (illumos banners and frames vs Linux ones).
    Auto,
    /// A Linux console.
    Linux,
    /// An illumos console, msgbuf, syslog, fmdump or mdb output.
    Illumos,
}

/// Arguments of `cargo xtask triage`.
#[derive(clap::Args, Debug)]
pub struct TriageArgs {
    /// The file to read, or `-` for standard input.
    #[arg(required_unless_present = "score")]
    pub file: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// The console grammar.
    #[arg(long, value_enum, default_value = "auto")]
    pub os: OsArg,
    /// Score the reader over a corpus directory (one log per file with `TITLE:` headers)
    /// instead: crash/no-crash and title agreement in percent.
    #[arg(long, value_name = "DIR", conflicts_with = "file")]
    pub score: Option<PathBuf>,
    /// Also say whether each crash is in the history (`build/history.sqlite`): which case,
    /// CPU and build reproduced it, how often, first and last seen.
    #[arg(long, conflicts_with_all = ["score", "json"])]
    pub history: bool,
    /// With `--score`: list every disagreement.
    #[arg(long, requires = "score")]
    pub verbose: bool,
}

/// Runs the triage command; returns the process exit code (0 ok, crash or not; 2 bad input).
pub fn run(args: &TriageArgs) -> anyhow::Result<i32> {
    if let Some(dir) = &args.score {
        return run_score(args, dir);
    }
    let file = args.file.as_deref().unwrap_or("-");
    let text = match read_input(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {file}: {e}");
            return Ok(2);
        }
    };
    let mut history = None;
    if args.history {
        let file = rig::history::path(&crate::paths::build_dir());
        match rig::history::History::open_existing(&file) {
            Ok(Some(h)) => history = Some(h),
            Ok(None) => eprintln!("note: no history yet ({} does not exist)", file.display()),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(2);
            }
        }
    }
    let (os, reports) = read_with(args.os, &text);
    let lines = text.iter().filter(|&&b| b == b'\n').count() + usize::from(text.last().is_some_and(|&b| b != b'\n'));
    if args.json {
        let out = serde_json::json!({ "os": os, "bytes": text.len(), "lines": lines, "reports": reports });
        emit(&(serde_json::to_string_pretty(&out)? + "\n"));
        return Ok(0);
    }
    let mut out = String::new();
    let n = reports.len();
    let how = os.map_or("an unknown OS (tried linux and illumos)".to_string(), |os| os.to_string());
    let _ = writeln!(
        out,
        "read {} bytes, {lines} lines as {how}: {}",
        text.len(),
        match n {
            0 => "no crash found".to_string(),
            1 => "1 crash".to_string(),
            n => format!("{n} crashes"),
        }
    );
    for (i, r) in reports.iter().enumerate() {
        print_report(&mut out, i + 1, n, r);
        if let Some(h) = &mut history {
            out.push_str(&known(h, &r.title)?);
        }
    }
    emit(&out);
    Ok(0)
}

/// Where the history saw the crash titled `title` (case-insensitively), as text.
fn known(h: &mut rig::history::History, title: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    let titles = h.titles_matching(title, true)?;
    if titles.is_empty() {
        out.push_str(&rig::history::render::known(title, None));
    }
    for t in titles {
        out.push_str(&rig::history::render::known(&t, h.sightings(&t)?.as_ref()));
    }
    Ok(out)
}

fn read_input(file: &str) -> std::io::Result<Vec<u8>> {
    if file == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(file)
    }
}

/// Reads with the chosen grammar; `auto` detects, and when the text says nothing tries both
/// (the OS is then `None` unless one of them found a crash).
fn read_with(os: OsArg, text: &[u8]) -> (Option<Os>, Vec<CrashReport>) {
    let os = match os {
        OsArg::Linux => Os::Linux,
        OsArg::Illumos => Os::Illumos,
        OsArg::Auto => match detect_os(text) {
            Some(os) => os,
            None => {
                for os in [Os::Linux, Os::Illumos] {
                    let reports = read_all(os, text);
                    if !reports.is_empty() {
                        return (Some(os), reports);
                    }
                }
                return (None, Vec::new());
            }
        },
    };
    (Some(os), read_all(os, text))
}

fn print_report(out: &mut String, i: usize, n: usize, r: &CrashReport) {
    out.push('\n');
    let _ = writeln!(out, "crash {i} of {n}: {}", r.title);
    let _ = writeln!(out, "  kind:      {}", r.kind);
    let _ = writeln!(
        out,
        "  corrupted: {}",
        if r.corrupted { "yes (truncated or mangled: trust the title less)" } else { "no" }
    );
    let _ = writeln!(out, "  message:   {}", r.message);
    if r.frames.is_empty() {
        let _ = writeln!(out, "  frames:    none");
        return;
    }
    let _ = writeln!(out, "  frames:");
    for f in &r.frames {
        let unreliable = if f.reliable { "" } else { "? " };
        let line = match (r.os, &f.module) {
            // As the OS prints them: `genunix:zone_destroy+124`, `zsd_apply_destroy+0x55 [zones]`.
            (Os::Illumos, Some(m)) => {
                format!("{m}:{}{}", f.function, f.offset.map(|o| format!("+{o:x}")).unwrap_or_default())
            }
            _ => {
                let offset = f.offset.map(|o| format!("+0x{o:x}")).unwrap_or_default();
                let module = f.module.as_deref().map(|m| format!(" [{m}]")).unwrap_or_default();
                format!("{}{offset}{module}", f.function)
            }
        };
        let _ = writeln!(out, "    {unreliable}{line}");
    }
}

fn run_score(args: &TriageArgs, dir: &std::path::Path) -> anyhow::Result<i32> {
    let cases = match load_dir(dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot read corpus {}: {e}", dir.display());
            return Ok(2);
        }
    };
    let os = match args.os {
        OsArg::Linux => Os::Linux,
        OsArg::Illumos => Os::Illumos,
        OsArg::Auto => {
            let illumos = cases.iter().filter(|c| detect_os(&c.text) == Some(Os::Illumos)).count();
            let linux = cases.iter().filter(|c| detect_os(&c.text) == Some(Os::Linux)).count();
            if illumos > linux { Os::Illumos } else { Os::Linux }
        }
    };
    let s = score(os, &cases);
    let mut out = String::new();
    if args.verbose {
        for m in &s.misses {
            let _ = writeln!(out, "{}: want {:?} got {:?}", m.path.display(), m.want, m.got);
        }
    }
    let _ = writeln!(out, "{} cases read as {os}", s.cases);
    let _ = writeln!(out, "crash/no-crash agreement: {:.1}% ({}/{})", s.crash_percent(), s.crash_agree, s.cases);
    let _ = writeln!(out, "title agreement:          {:.1}% ({}/{})", s.title_percent(), s.title_agree, s.with_title);
    emit(&out);
    Ok(0)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    crate::out::write(text);
}
