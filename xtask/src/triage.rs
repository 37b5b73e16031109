//! `cargo xtask triage`: read a console log, syslog or mdb output as a stream and print its
//! crash reports as they are found (with `--history`, where the rig reproduced each before).

use rig::crash::{CrashReport, Os};
use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;

/// `--os`'s choices: `auto`, or any guest OS the library's registry knows.
fn os_choices() -> clap::builder::PossibleValuesParser {
    let names = rig::guest_os::registry().iter().map(|k| k.name()).collect::<Vec<_>>();
    clap::builder::PossibleValuesParser::new(std::iter::once("auto").chain(names))
}

/// The OS `--os` forces (`None` for `auto`).
pub fn forced(os: &str) -> Option<&str> {
    (os != "auto").then_some(os)
}

/// Arguments of `cargo xtask triage`.
#[derive(clap::Args, Debug)]
pub struct TriageArgs {
    /// The file to read, or `-` for standard input. Read as a stream: memory does not grow
    /// with its size, and each crash is printed as soon as its report is complete.
    #[arg(required_unless_present = "score")]
    pub file: Option<std::ffi::OsString>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// The console grammar: a guest OS's name, or `auto` to guess from the text.
    #[arg(long, default_value = "auto", value_parser = os_choices())]
    pub os: String,
    /// Score the reader over a corpus directory (one log per file with `TITLE:` headers)
    /// instead: right/total per OS and per form. An empty directory is an error.
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

/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

/// Runs the triage command; returns the process exit code (0 ok, crash or not; 2 bad input;
/// 3 when the reports could not be written: stdout closed, full or gone away).
pub fn run(args: &TriageArgs) -> anyhow::Result<i32> {
    crate::out::strict();
    if crate::out::closed_at_start() {
        eprintln!("error: stdout is closed: there is nowhere to print the reports");
        return Ok(crate::exit::INFRA);
    }
    if let Some(dir) = &args.score {
        return crate::triage_score::run(args, dir);
    }
    let file = args.file.as_deref().unwrap_or(std::ffi::OsStr::new("-"));
    let mut input: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(file) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", std::path::Path::new(file).display());
                return Ok(crate::exit::USAGE);
            }
        }
    };
    let mut history = None;
    if args.history {
        let path = rig::history::path(&crate::paths::build_dir());
        match rig::history::History::open_existing(&path) {
            Ok(Some(h)) => history = Some(h),
            Ok(None) => eprintln!("note: no history yet ({} does not exist)", path.display()),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(crate::exit::USAGE);
            }
        }
    }
    let mut out = Printer { json: args.json, count: 0, history };
    out.begin();
    let mut reader = match rig::guest_os::triage_reader(forced(&args.os)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(crate::exit::USAGE);
        }
    };
    let tried = reader.candidates();
    let (mut bytes, mut lines, mut last) = (0u64, 0u64, b'\n');
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", std::path::Path::new(file).display());
                return Ok(crate::exit::USAGE);
            }
        };
        let chunk = &buf[..n];
        bytes += n as u64;
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk[n - 1];
        for r in reader.feed(chunk) {
            out.report(&r)?;
        }
        if crate::out::gone_away() {
            return Ok(crate::exit::INFRA);
        }
    }
    for r in reader.finish() {
        out.report(&r)?;
    }
    lines += u64::from(bytes > 0 && last != b'\n');
    out.end(reader.os(), &tried, bytes, lines);
    Ok(crate::exit::OK)
}

/// Prints reports as they come, as text or as one JSON document written in pieces.
struct Printer {
    json: bool,
    count: usize,
    history: Option<rig::history::History>,
}

impl Printer {
    fn begin(&self) {
        if self.json {
            crate::out::write("{\n  \"reports\": [");
        }
    }

    fn report(&mut self, r: &CrashReport) -> anyhow::Result<()> {
        self.count += 1;
        if self.json {
            let mut v = serde_json::to_value(r)?;
            // The title as people read it; syzkaller's form (`in corrupted`) kept beside it.
            v["syzkaller_title"] = v["title"].clone();
            v["title"] = r.headline().into();
            let item = serde_json::to_string_pretty(&v)?.replace('\n', "\n    ");
            crate::out::write(&format!("{}\n    {item}", if self.count == 1 { "" } else { "," }));
            return Ok(());
        }
        let mut out = String::new();
        print_report(&mut out, self.count, r);
        if let Some(h) = &mut self.history {
            out.push_str(&known(h, &r.title)?);
        }
        crate::out::write(&out);
        Ok(())
    }

    fn end(&self, os: Option<Os>, tried: &[Os], bytes: u64, lines: u64) {
        if self.json {
            let os = serde_json::to_string(&os).unwrap_or_else(|_| "null".into());
            let close = if self.count == 0 { "]" } else { "\n  ]" };
            crate::out::write(&format!("{close},\n  \"os\": {os},\n  \"bytes\": {bytes},\n  \"lines\": {lines}\n}}\n"));
            return;
        }
        let tried = tried.iter().map(|o| o.name()).collect::<Vec<_>>();
        let how = os.map_or_else(|| format!("an unknown OS (tried {})", and_list(&tried)), |os| os.to_string());
        let found = match self.count {
            0 => "no crash found".to_string(),
            1 => "1 crash".to_string(),
            n => format!("{n} crashes"),
        };
        crate::out::write(&format!("\nread {bytes} bytes, {lines} lines as {how}: {found}\n"));
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(names: &[&str]) -> String {
    match names.split_last() {
        None => "none".to_string(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
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

fn print_report(out: &mut String, i: usize, r: &CrashReport) {
    out.push('\n');
    let _ = writeln!(out, "crash {i}: {}", r.headline());
    let _ = writeln!(out, "  kind:      {}", r.kind);
    let _ = writeln!(out, "  certainty: {} ({})", r.certainty, r.certainty.explain());
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
        // As the OS prints them: `genunix:zone_destroy+124`, `zsd_apply_destroy+0x55 [zones]`.
        let line = match rig::guest_os::dialect(r.os.name()) {
            Some(d) => d.frame_text(f),
            None => f.qualified(),
        };
        let _ = writeln!(out, "    {unreliable}{line}");
    }
}
