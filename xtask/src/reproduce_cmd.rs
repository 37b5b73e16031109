//! `cargo xtask reproduce`: from a customer's panic text to a run of the case that hunts it.
//! Reads the text as `triage` does, finds and ranks the cases whose `hunts:`/`expect:` fit it
//! (or drafts one from the stack), then runs the best until the crash comes (`rig
//! --until-panic`) or bisects builds with it (`rig --bisect`). The logic is `rig::reproduce`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Parser;
use rig::reproduce::{self, Answer, CaseMatch, Reading};

use crate::{exit, paths};

/// No case hunts the crash: a draft was written (and not run).
pub const DRAFT: i32 = 4;

const HELP: &str = "Exit codes: 0 reproduced (with --bisect: the first bad build found, every probe decided); \
1 not reproduced within the budget (the rate it rules out is printed; with --bisect: an answer resting on an \
inconclusive probe, or none); 2 bad input (no such file, an empty text, a text with no panic, a --case that does \
not hunt the crash); 3 infrastructure failure; 4 no case hunts the crash: a draft case was written (its path is \
printed; --try-draft runs it); 130 interrupted.";

/// Arguments of `cargo xtask reproduce`.
#[derive(clap::Args, Debug)]
#[command(after_help = HELP)]
pub struct ReproduceArgs {
    /// The customer's text: a console capture, mdb output, syslog or journal (whatever `triage`
    /// reads), or `-` for standard input.
    pub text: OsString,
    /// Run on this image instead of the one the chosen case names.
    #[arg(long, value_name = "IMAGE", conflicts_with = "bisect")]
    pub image: Option<String>,
    /// Bisect these builds (oldest first) with the chosen case instead of running it until the
    /// crash comes (as `rig --bisect`).
    #[arg(long, value_name = "IMG1,IMG2,...")]
    pub bisect: Option<String>,
    /// A case to consider besides those in testcases/ (a name or a path); repeat for several.
    /// Given, the best of these is run.
    #[arg(long, value_name = "NAME|PATH")]
    pub case: Vec<OsString>,
    /// The hit rate to rule out (e.g. `10%`): the budget is the iterations that see such a
    /// race with 90% probability (as `rig --until-panic --expect-rate`).
    #[arg(long, value_name = "RATE", default_value = "10%", conflicts_with = "bisect")]
    pub expect_rate: String,
    /// At most this many iterations (per build with --bisect).
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<u32>,
    /// With --bisect: each probe's wall-clock budget (e.g. `45m`).
    #[arg(long, value_name = "DURATION", requires = "bisect")]
    pub max_time: Option<String>,
    /// Search the race window instead of running the case as it is: the case's first
    /// `explore:` timing is split into its sub-ranges, and N iterations a level go to them in
    /// batches, chosen by top-two Thompson sampling; the next level splits the best sub-range
    /// again, until the rate stops rising (at most 3 levels). The case as it is runs 2N
    /// iterations too. Prints each level's hits with 95% intervals, the window with its rate
    /// against the original ranges', and writes the case narrowed to it; with --bisect, the
    /// window is searched on the newest build and the builds are bisected with the narrowed case.
    #[arg(long, value_name = "N", conflicts_with = "list", value_parser = clap::value_parser!(u32).range(2..=10000))]
    pub search_window: Option<u32>,
    /// When no case hunts the crash, run the drafted case instead of stopping with exit 4.
    #[arg(long, conflicts_with = "list")]
    pub try_draft: bool,
    /// Only read the text and list the cases that hunt it, with the image each needs (or write
    /// the draft, exit 4); run nothing.
    #[arg(long, conflicts_with_all = ["bisect", "image"])]
    pub list: bool,
    /// The console grammar of the text: a guest OS's name, or `auto`.
    #[arg(long, default_value = "auto")]
    pub os: String,
    /// CPU model.
    #[arg(long, default_value = "epyc", value_name = "MODEL")]
    pub cpu: String,
    /// Accelerator: auto, kvm or tcg.
    #[arg(long, default_value = "auto")]
    pub accel: String,
    /// Seed of every random choice.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Where the run directory is created [default: build/runs].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
}

/// `rig`'s arguments, parsed as its command line would be.
#[derive(Parser)]
struct Rig {
    #[command(flatten)]
    a: crate::rig_cmd::RigArgs,
}

/// Runs the command; returns the exit code.
pub async fn run(a: &ReproduceArgs, interrupt: std::sync::Arc<tokio::sync::Notify>) -> Result<i32> {
    let reading = match read(&a.text, crate::triage::forced(&a.os)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    show_reading(&reading);
    let cases_dir = paths::workspace().join("testcases");
    let mut given = Vec::new();
    for c in &a.case {
        match rig::case::find(&cases_dir, c) {
            Ok(c) => given.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::USAGE);
            }
        }
    }
    // A case given by --case is one of its candidates once, whichever way it was named.
    let same = |x: &Path, y: &Path| x.canonicalize().ok().is_some_and(|x| y.canonicalize().ok() == Some(x));
    let shipped: Vec<_> = rig::case::list(&cases_dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|s| !given.iter().any(|g| same(&g.file, &s.file)))
        .collect();
    let found = reproduce::match_cases(&reading, &[&shipped[..], &given[..]].concat());
    show_matches(&found);
    let chosen = if given.is_empty() {
        found.first()
    } else {
        found.iter().find(|m| given.iter().any(|g| g.file == m.case.file))
    };
    if chosen.is_none() && !given.is_empty() {
        let names: Vec<&str> = given.iter().map(|g| g.case.name.as_str()).collect();
        eprintln!(
            "error: --case {}: does not hunt this crash (neither `hunts:` nor `expect:` fits it)",
            names.join(", ")
        );
        return Ok(exit::USAGE);
    }
    if a.list && chosen.is_some() {
        return Ok(exit::OK);
    }
    let runs = a.runs_dir.clone().unwrap_or_else(paths::runs_dir);
    let run_dir = rig::rundir::create(&runs, "reproduce")?;
    let mut image = a.image.clone();
    let case_file = match chosen {
        Some(m) => {
            // Its own image only: a case's `compare:` is for comparisons, not for reproducing.
            image = image.or(Some(m.image.clone()));
            let on = match &a.bisect {
                Some(builds) => format!("bisecting {builds}"),
                None => format!("on {}", a.image.as_deref().unwrap_or(&m.image)),
            };
            outln!("\nchosen: {} ({}), {on}", m.case.case.name, m.case.file.display());
            m.case.file.clone()
        }
        None if !given.is_empty() => {
            let names: Vec<&str> = given.iter().map(|g| g.case.name.as_str()).collect();
            eprintln!(
                "error: --case {}: does not hunt this crash (neither `hunts:` nor `expect:` fits it)",
                names.join(", ")
            );
            return Ok(exit::USAGE);
        }
        None => {
            let image = reproduce::image_for(&reading, a.image.as_deref());
            let source = Path::new(&a.text).display().to_string();
            let draft = match reproduce::draft(&reading, &image, &source) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(exit::USAGE);
                }
            };
            let path = reproduce::draft::write(&draft, &run_dir)?;
            outln!("\nno case hunts this crash: a DRAFT case derived from its stack, on {image}:");
            for why in &draft.reasons {
                outln!("  {why}");
            }
            outln!("draft: {}", path.display());
            if !a.try_draft || a.list {
                outln!(
                    "next: check it, then: cargo xtask reproduce {source} --case {} (or --try-draft)",
                    path.display()
                );
                return Ok(DRAFT);
            }
            path
        }
    };
    let original_case = case_file.clone();
    let mut case_file = case_file;
    let mut window = None;
    if let Some(per_level) = a.search_window {
        // With --bisect, the window is searched on the newest build, where the bug is.
        let newest = a.bisect.as_deref().and_then(|b| b.split(',').next_back()).map(|s| s.trim().to_string());
        let on = newest.or(image.clone()).unwrap_or_else(|| reproduce::image_for(&reading, None));
        let found = crate::reproduce_window::search(a, &case_file, &on, per_level, &run_dir, interrupt.clone()).await?;
        window = found.window;
        match (&a.bisect, &window) {
            (Some(_), Some(w)) => {
                outln!("\nbisecting with the narrowed case {}", w.narrowed_case);
                case_file = PathBuf::from(&w.narrowed_case);
            }
            _ => {
                let story = crate::reproduce_story::tell(a, &reading, &original_case, &on, window, None);
                crate::reproduce_story::show(&story, &run_dir);
                return Ok(found.code);
            }
        }
    }
    let args = rig_args(a, &case_file, image.clone(), &run_dir);
    let code = crate::rig_cmd::run(&args, interrupt).await?;
    if code == rig::results::model::NOTHING_RAN {
        eprintln!("error: nothing ran: this host cannot run the case as asked (see the table); not a draft");
        return Ok(exit::INFRA);
    }
    if ![0, 1].contains(&code) {
        return Ok(code);
    }
    let report = match rig_report(&run_dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the run's report: {e:#}");
            return Ok(exit::INFRA);
        }
    };
    let on = image.unwrap_or_else(|| reproduce::image_for(&reading, None));
    let story = crate::reproduce_story::tell(a, &reading, &original_case, &on, window, Some(&report));
    if a.bisect.is_some() {
        crate::reproduce_story::show(&story, &run_dir);
        return Ok(code);
    }
    let answer = reproduce::judge(&report);
    outln!("\n{answer}");
    crate::reproduce_story::show(&story, &run_dir);
    Ok(match answer {
        Answer::Reproduced { .. } => exit::OK,
        Answer::NotReproduced { .. } => 1,
    })
}

/// The text, read from its file or standard input.
fn read(text: &OsString, os: Option<&str>) -> Result<Reading, String> {
    if text == "-" {
        return reproduce::read_from(&mut std::io::stdin().lock(), os).map_err(|e| e.to_string());
    }
    let path = Path::new(text);
    if let Some(why) = rig::file_kind::not_regular(path) {
        return Err(format!("{}: {why}; give the file that holds the panic text", path.display()));
    }
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    reproduce::read_from(&mut f, os).map_err(|e| format!("{}: {e}", path.display()))
}

fn show_reading(r: &Reading) {
    outln!("crash: {} (read as {})", r.report.headline(), r.os());
    outln!("  sureness: {:?} ({})", r.sureness, r.sureness.explain());
    outln!("  frames:   {}", if r.frames.is_empty() { "none".to_string() } else { r.frames.join(" < ") });
    if r.others > 0 {
        outln!("  ({} more crash(es) later in the text; the first is the one reproduced)", r.others);
    }
}

fn show_matches(found: &[CaseMatch]) {
    if found.is_empty() {
        return;
    }
    outln!("\ncases that hunt it, best first:");
    for m in found {
        let os = if m.same_os { "" } else { ", another OS than the text's" };
        let compare =
            if m.compare.is_empty() { String::new() } else { format!(" (compares {})", m.compare.join(", ")) };
        outln!(
            "  {:<22} {:<11} via {:<6} needs image {}{compare}{os}",
            m.case.case.name,
            format!("{:?}", m.strength),
            m.via,
            m.image
        );
    }
}

/// `rig`'s arguments for the chosen case: until the hunted crash, or a bisection.
fn rig_args(a: &ReproduceArgs, case: &Path, image: Option<String>, run_dir: &Path) -> crate::rig_cmd::RigArgs {
    let mut mode: Vec<String> = Vec::new();
    let mut add = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            mode.extend([flag.to_string(), v]);
        }
    };
    add("--max-iterations", a.max_iterations.map(|n| n.to_string()));
    add("--max-time", a.max_time.clone());
    match &a.bisect {
        Some(list) => add("--bisect", Some(list.clone())),
        None => {
            add("--image", image);
            add("--expect-rate", Some(a.expect_rate.clone()));
            mode.push("--until-panic".into());
        }
    }
    rig_with(a, case, run_dir, &mode)
}

/// `rig`'s arguments: the case, this command's CPU, accelerator and seed, and `mode`'s flags.
pub fn rig_with(a: &ReproduceArgs, case: &Path, run_dir: &Path, mode: &[String]) -> crate::rig_cmd::RigArgs {
    let mut args: Vec<OsString> = vec!["rig".into(), "--case".into(), case.into(), "--runs-dir".into(), run_dir.into()];
    args.extend(["--cpu".into(), a.cpu.clone().into(), "--accel".into(), a.accel.clone().into()]);
    if let Some(s) = a.seed {
        args.extend(["--seed".into(), s.to_string().into()]);
    }
    args.extend(mode.iter().map(OsString::from));
    // The flags are this command's own, already checked by clap: `rig` rejects only values
    // (an unknown CPU, a bad rate), and says which.
    Rig::try_parse_from(args).map(|r| r.a).unwrap_or_else(|e| e.exit())
}

/// The report of the `rig` run made inside `run_dir`.
pub fn rig_report(run_dir: &Path) -> Result<rig::results::model::RunReport> {
    let dir = std::fs::read_dir(run_dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("report.json").is_file())
        .ok_or_else(|| anyhow::anyhow!("no report.json under {}", run_dir.display()))?;
    Ok(serde_json::from_slice(&std::fs::read(dir.join("report.json"))?)?)
}
