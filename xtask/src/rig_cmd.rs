//! `cargo xtask rig`: boot guests with the chosen CPU models and check them.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use rig::case::{self, LoadedCase};
use rig::dump::DumpOptions;
use rig::engine::campaign::{self, Plan, Progress};
use rig::engine::gate::Budget;
use rig::host::AccelChoice;
use rig::machine::{CpuModel, cpu};

use crate::choices::{AccelArg, DumpFormatArg};
use crate::{exit, paths};

const EXAMPLES: &str = "Examples:
  cargo xtask rig --cpu epyc                  the default set of cases on an AMD EPYC model
  cargo xtask rig --list                      the test cases in testcases/
  cargo xtask rig --cpu epyc --case kvm-reload-reboot-race --iterations 50
  cargo xtask rig --cpu epyc,cascadelake --case testcases/my-case.yaml
  cargo xtask rig --cpu epyc,cascadelake      a matrix: one guest per model
  cargo xtask rig --cpu epyc --accel tcg      skip the KVM probe, emulate
  cargo xtask rig --cpu host --accel kvm      the host CPU; fail if KVM is unusable
  cargo xtask rig --cpu skylake --accel kvm   an Intel model (its nesting needs KVM on an Intel host)";

/// Arguments of `cargo xtask rig`.
#[derive(Args, Debug)]
#[command(after_help = format!("{}\n\n{EXAMPLES}", exit::HELP))]
pub struct RigArgs {
    /// CPU model, or a comma-separated list (a matrix). Models: epyc, epyc-rome, epyc-milan,
    /// skylake, cascadelake, icelake, host (KVM only). AMD models get +svm,+npt,+nrip-save,
    /// Intel models +vmx, when the case asks for nesting.
    #[arg(long, default_value = "epyc", value_name = "MODEL[,MODEL...]")]
    pub cpu: String,
    /// Test case: a name from testcases/ or a path to a YAML file; repeat for several. Without
    /// it, the default set runs (the cases marked `default_set: true`).
    #[arg(long, value_name = "NAME|PATH")]
    pub case: Vec<std::ffi::OsString>,
    /// Iterations per case and CPU model (overrides each case's own count), 1 to 100000.
    #[arg(long, value_name = "N")]
    pub iterations: Option<u32>,
    /// List the test cases and exit.
    #[arg(long)]
    pub list: bool,
    /// Run every case on this image instead of the one it names (e.g. `linux-os7410-fixed`,
    /// `coal`).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Run each case on these images and compare them: the reference (the buggy build) first,
    /// then candidates. The builds take turns until each candidate's verdict is decided (NOT
    /// FIXED at its first hit; FIXED when the reference's hits make it significant), within
    /// --max-iterations and --max-time; with --iterations, exactly that many each and Fisher's
    /// exact test. Prints per build the hit rate with its 95% interval.
    #[arg(long, value_name = "IMAGE,IMAGE[,...]")]
    pub compare: Option<String>,
    /// Find the first build, oldest to newest, that reproduces the case's hunted signature:
    /// IMG1 should be good, IMGn must reproduce (both are checked first). Each probe is a
    /// sequential comparison against IMGn. A guest OS's keyword stands for a series: `coal`
    /// takes every prepared coal headnode, ordered by platform stamp. Needs one --case with
    /// `hunts:` and one CPU model.
    #[arg(long, value_name = "IMG1,IMG2,...|KEYWORD")]
    pub bisect: Option<String>,
    /// Exit as `git bisect run` wants: 0 good (the race ran, the hunted panic did not come, or
    /// a comparison is FIXED), 1 bad (the hunted panic, or NOT FIXED), 125 skip (infra, not
    /// exercised, another panic or a hang, nothing judged, undecided); 130 still aborts. For
    /// `git bisect run cargo xtask rig ...` over a kernel tree.
    #[arg(long)]
    pub exit_for_bisect: bool,
    /// A sequential comparison's budget: iterations per build at most, 1 to 100000 [default:
    /// the case's `iterations`].
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<u32>,
    /// A sequential comparison's wall-clock budget (e.g. `45m`, `2h`) [default: the case's
    /// run deadline].
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,
    /// Keep iterating until the first panic matching TITLE (or the case's hunted signature, or
    /// any panic), up to --max-iterations (or --iterations, or the case's count): for
    /// reproducing a customer's panic.
    #[arg(long, value_name = "TITLE", num_args = 0..=1, default_missing_value = "")]
    pub until_panic: Option<String>,
    /// With --until-panic: the hit rate you expect (e.g. `5%` or `0.05`), between 0.01% and
    /// 100%. The budget becomes the iterations that see such a race with 90% probability (45 at
    /// 5%, 23025 at 0.01%), unless --max-iterations says otherwise; the run prints the expected
    /// count (1/rate).
    #[arg(long, value_name = "RATE")]
    pub expect_rate: Option<String>,
    /// Accelerator: `auto` probes whether KVM really runs a guest (cached per host boot) and
    /// falls back to TCG with a warning; `kvm` fails if KVM is unusable; `tcg` emulates.
    #[arg(long, value_enum, ignore_case = true, default_value = "auto")]
    pub accel: AccelArg,
    /// Seed of every random choice (jitter, race offsets); printed in the report, so a run can
    /// be replayed. Default: from the clock.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Guests run in parallel (per case, CPU model and image) [default: one per core, as many
    /// as fit in memory].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Memory all guests may use together, MiB [default: 80% of what is available].
    #[arg(long, value_name = "MIB")]
    pub memory_budget: Option<u64>,
    /// Run only shard K of N: a deterministic 1/N share of the campaign (cases × CPU models ×
    /// images × iterations), for N CI runners; join their reports with `cargo xtask report merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Reboot between iterations even where a case allows restoring a snapshot.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Host-side memory dumps at panics and hangs. `first:N`: only the first N per crash
    /// signature (a panic's title, `hang during <step>`) and image are kept; later ones are not
    /// taken (or deleted once the title is read), and their records name the dumps kept. `all`:
    /// every one. `panic`: every panic, no hang. `none`. A dump that may not fit in the free
    /// space is not started, and says so.
    #[arg(long, default_value = "first:2", value_name = "first:N|all|panic|none")]
    pub dumps: String,
    /// Dump format: `kdump` (kdump-compressed, small; `crash` reads it) or `elf` (full size).
    #[arg(long, value_enum, default_value = "kdump")]
    pub dump_format: DumpFormatArg,
    /// Skip or delete a dump larger than this many MiB.
    #[arg(long, value_name = "MIB")]
    pub dump_max_mib: Option<u64>,
    /// Where run directories are created [default: build/runs in the workspace].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Run again the run recorded in RUN_DIR/report.json: its command line (the same cases, CPU
    /// models, images, iterations or budget) with its seed, and a warning for an image whose
    /// kernel release changed since. Only --runs-dir, --jobs, --memory-budget, --json and
    /// --keep-state go with it (they replace the recorded ones); without --runs-dir the replay
    /// goes where the recorded run's runs went.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = RECORDED)]
    pub replay: Option<PathBuf>,
    /// Print the final verdicts as JSON on stdout (exit code, seed, run directory, each case ×
    /// CPU × image's verdict and counts, comparisons, bisection); the table and every other line
    /// go to stderr.
    #[arg(long)]
    pub json: bool,
    /// Keep the snapshot runs' state disks (`state.qcow2`: the saved VM states, hundreds of MB
    /// each) in the run directory; without it they are deleted when the run ends.
    #[arg(long)]
    pub keep_state: bool,
}

/// The arguments that say what a run runs: a replay takes them from the recorded run.
const RECORDED: [&str; 19] = [
    "cpu",
    "case",
    "iterations",
    "list",
    "image",
    "compare",
    "bisect",
    "exit_for_bisect",
    "max_iterations",
    "max_time",
    "until_panic",
    "expect_rate",
    "accel",
    "seed",
    "shard",
    "no_snapshot",
    "dumps",
    "dump_format",
    "dump_max_mib",
];

/// The arguments as a whole command line, for parsing a replayed run's.
#[derive(clap::Parser, Debug)]
struct Recorded {
    #[command(flatten)]
    a: RigArgs,
}

/// The validated form of the arguments.
#[derive(Debug)]
struct Plan0 {
    cpus: Vec<&'static CpuModel>,
    accel: AccelChoice,
    cases: Vec<LoadedCase>,
    compare: Option<Vec<String>>,
    dumps: DumpOptions,
    jobs: usize,
    shard: Option<rig::results::shard::Shard>,
    budget: Budget,
    bisect: Option<Vec<String>>,
    /// --expect-rate and the --until-panic budget it sets.
    until_panic_budget: Option<(f64, u32)>,
}

fn cases_dir() -> PathBuf {
    paths::workspace().join("testcases")
}

/// An image the user named exists (as its guest OS says: built in, a registered user
/// kernel, a prepared headnode).
fn check_image(name: &str) -> Result<(), String> {
    rig::guest_os::check_image(&crate::paths::build_dir(), name)
}

fn validate(a: &RigArgs) -> Result<Plan0, String> {
    let cpus = cpu::parse_list(&a.cpu).map_err(|e| e.to_string())?;
    let accel = a.accel.into();
    if a.iterations == Some(0) {
        return Err("--iterations must be at least 1".into());
    }
    at_most("--iterations", a.iterations)?;
    if let Some(dir) = &a.runs_dir {
        runs_dir_usable(dir)?;
    }
    let budget = budget(a)?;
    let until_panic_budget = until_panic_budget(a)?;
    let compare = match &a.compare {
        None => None,
        Some(list) => {
            let images: Vec<String> =
                list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            if images.len() < 2 {
                return Err(format!(
                    "--compare needs at least two images (the reference first, then candidates), got '{list}'"
                ));
            }
            for (k, i) in images.iter().enumerate() {
                if images[..k].contains(i) {
                    return Err(format!("--compare: '{i}' is listed twice; each image once, the reference first"));
                }
                check_image(i).map_err(|e| format!("--compare: {e}"))?;
            }
            Some(images)
        }
    };
    let cases = if a.case.is_empty() {
        let mut set = Vec::new();
        for c in case::list(&cases_dir()) {
            let c = c.map_err(|e| e.to_string())?;
            if c.case.default_set {
                set.push(c);
            }
        }
        set
    } else {
        a.case.iter().map(|n| case::find(&cases_dir(), n).map_err(|e| e.to_string())).collect::<Result<_, _>>()?
    };
    if cases.is_empty() {
        return Err(format!("no test case to run: none in {} is marked default_set", cases_dir().display()));
    }
    let dumps = DumpOptions {
        format: a.dump_format.into(),
        max_bytes: a.dump_max_mib.map(|m| m.saturating_mul(1024 * 1024)),
        ..DumpOptions::default()
    }
    .with_choice(&a.dumps)
    .map_err(|e| format!("--dumps: {e}"))?;
    let mut cases = cases;
    if let Some(image) = &a.image {
        check_image(image).map_err(|e| format!("--image: {e}"))?;
        for c in &mut cases {
            c.case.guest.image = image.clone();
            c.case.compare.clear();
        }
    }
    if a.jobs == Some(0) {
        return Err("--jobs must be at least 1".into());
    }
    let shard = a.shard.as_deref().map(str::parse).transpose()?;
    let biggest = cases.iter().map(|c| c.case.guest.memory_mib).max().unwrap_or(512);
    if let (Some(total), Some(big)) =
        (rig::host::memory::total_mib(), cases.iter().max_by_key(|c| c.case.guest.memory_mib))
        && u64::from(biggest) > total
    {
        return Err(format!(
            "case '{}' ({}): guest.memory_mib {biggest} is more than this host's memory ({total} MiB): it can never start here",
            big.case.name,
            big.file.display()
        ));
    }
    if let Some(budget) = a.memory_budget
        && rig::host::memory::guests_that_fit(budget, biggest) == 0
    {
        return Err(format!(
            "--memory-budget {budget} MiB: no guest fits (the largest case needs {biggest} MiB plus {} MiB for QEMU)",
            rig::host::memory::QEMU_OVERHEAD_MIB
        ));
    }
    let jobs = a.jobs.unwrap_or_else(|| rig::host::memory::default_jobs(biggest));
    let bisect = match &a.bisect {
        None => None,
        Some(list) => Some(bisect_builds(a, list, &cases, &cpus)?),
    };
    if a.exit_for_bisect && bisect.is_some() {
        return Err("--exit-for-bisect answers for one build, for `git bisect run`; --bisect bisects builds itself: \
                    use one or the other"
            .into());
    }
    Ok(Plan0 { cpus, accel, cases, compare, dumps, jobs, shard, budget, bisect, until_panic_budget })
}

/// What --until-panic promises: the mean wait for the first hit at `rate`, and the chance that
/// the budget of `n` iterations sees it (from the real budget, which --max-iterations may cut).
fn until_panic_line(rate: f64, n: u32) -> String {
    format!(
        "--until-panic: at a hit rate of {:.1}% the first hit comes after {:.0} iterations on average; up to {n} \
         iterations (a {} chance of seeing it at that rate)",
        rate * 100.0,
        1.0 / rate,
        chance(rig::stats::chance_to_hit(rate, n))
    )
}

/// A chance as a whole percentage, never rounded up to a certainty nor down to nothing.
fn chance(p: f64) -> String {
    match p {
        p if p >= 1.0 => "100%".into(),
        p if p > 0.995 => ">99%".into(),
        p if p > 0.0 && p < 0.005 => "<1%".into(),
        p => format!("{:.0}%", 100.0 * p),
    }
}

/// The smallest --expect-rate: its 90% budget (23025) stays within
/// [`rig::case::limits::MAX_ITERATIONS`].
const MIN_RATE: f64 = 1e-4;

/// An iteration count within [`rig::case::limits::MAX_ITERATIONS`].
fn at_most(flag: &str, n: Option<u32>) -> Result<(), String> {
    let most = rig::case::limits::MAX_ITERATIONS;
    match n {
        Some(n) if n > most => Err(format!("{flag} {n} is more than {most}, the most iterations a run may ask for")),
        _ => Ok(()),
    }
}

/// --runs-dir is, or can become, a directory: it is not a file, nor inside one.
fn runs_dir_usable(dir: &std::path::Path) -> Result<(), String> {
    let Some(existing) = dir.ancestors().find(|p| p.exists()) else { return Ok(()) };
    match std::fs::metadata(existing) {
        Ok(m) if !m.is_dir() => Err(format!(
            "--runs-dir {}: {} is {}, not a directory",
            dir.display(),
            existing.display(),
            rig::file_kind::describe(&m)
        )),
        _ => Ok(()),
    }
}

/// A rate as the user wrote it: `5%` or `0.05`.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.trim().parse::<f64>(),
    }
    .map_err(|_| format!("--expect-rate '{text}': write a rate like 5% or 0.05"))
}

/// --expect-rate and the budget of --until-panic it sets: --max-iterations, or what the rate
/// needs for a 90% chance.
fn until_panic_budget(a: &RigArgs) -> Result<Option<(f64, u32)>, String> {
    let Some(text) = &a.expect_rate else { return Ok(None) };
    if a.until_panic.is_none() {
        return Err("--expect-rate sizes the budget of --until-panic: give --until-panic too".into());
    }
    let rate = parse_rate(text)?;
    // NaN fails both comparisons, so it is refused too.
    let n = (MIN_RATE..=1.0)
        .contains(&rate)
        .then(|| rig::stats::iterations_to_hit(rate, 0.1))
        .flatten()
        .ok_or_else(|| format!("--expect-rate '{text}': the rate must be between 0.01% and 100%"))?;
    Ok(Some((rate, a.max_iterations.unwrap_or(n))))
}

/// The builds of --bisect, checked before any guest starts.
fn bisect_builds(a: &RigArgs, list: &str, cases: &[LoadedCase], cpus: &[&CpuModel]) -> Result<Vec<String>, String> {
    let clashes: Vec<&str> = [
        (a.compare.is_some(), "--compare"),
        (a.iterations.is_some(), "--iterations"),
        (a.until_panic.is_some(), "--until-panic"),
        (a.shard.is_some(), "--shard"),
        (a.image.is_some(), "--image"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect();
    if !clashes.is_empty() {
        return Err(format!(
            "--bisect chooses the builds and runs each probe until decided: drop {}",
            clashes.join(", ")
        ));
    }
    let [lc] = cases else {
        return Err(format!("--bisect needs exactly one --case (the race to bisect), got {}", cases.len()));
    };
    if a.case.is_empty() {
        return Err("--bisect needs exactly one --case (the race to bisect), not the default set".into());
    }
    if cpus.len() != 1 {
        return Err(format!("--bisect runs on one CPU model, got {}", cpus.len()));
    }
    if lc.case.hunts.is_none() {
        return Err(format!(
            "--bisect: the case '{}' ({}) has no `hunts:`: a bisection needs the signature that marks a bad build",
            lc.case.name,
            lc.file.display()
        ));
    }
    // A keyword a guest OS knows (`coal`) stands for its series of images.
    let series = rig::guest_os::series(&paths::build_dir(), list.trim());
    let builds: Vec<String> = match &series {
        Some(s) => s.builds.clone(),
        None => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    };
    if builds.len() < 2 {
        return Err(format!(
            "--bisect needs at least two builds, oldest first (got {}{})",
            builds.len(),
            series.as_ref().map_or("", |s| s.how_to_make)
        ));
    }
    for (k, b) in builds.iter().enumerate() {
        if builds[..k].contains(b) {
            return Err(format!("--bisect: '{b}' is listed twice; each build once, oldest first"));
        }
        check_image(b).map_err(|e| format!("--bisect: {e}"))?;
    }
    let profiles: Vec<&str> = builds.iter().map(|b| rig::guest_os::profile_for(b).map_or("?", |p| p.name)).collect();
    if let Some(k) = profiles.iter().position(|p| *p != profiles[0]) {
        return Err(format!(
            "--bisect: builds of different guest OSes are mixed: {} is {}, {} is {}",
            builds[0], profiles[0], builds[k], profiles[k]
        ));
    }
    Ok(builds)
}

/// The budget of sequential comparisons from --max-iterations and --max-time.
fn budget(a: &RigArgs) -> Result<Budget, String> {
    let mut b = rig::engine::gate::DEFAULT_BUDGET;
    if let Some(n) = a.max_iterations {
        if n == 0 {
            return Err("--max-iterations must be at least 1 (it is the most iterations each build may run)".into());
        }
        at_most("--max-iterations", Some(n))?;
        b.iterations = Some(n);
    }
    if let Some(t) = &a.max_time {
        let d = humantime::parse_duration(t)
            .map_err(|e| format!("--max-time '{t}': {e} (write it like 90s, 45m or 2h)"))?;
        if d.as_secs() == 0 {
            return Err(format!("--max-time '{t}' is zero: a comparison needs time to run"));
        }
        b.secs = Some(d.as_secs());
    }
    if a.iterations.is_some() && (a.max_iterations.is_some() || a.max_time.is_some()) {
        return Err("--iterations runs exactly N iterations per build; --max-iterations and --max-time bound a \
                    sequential comparison, which runs without --iterations: give one or the other"
            .into());
    }
    Ok(b)
}

fn list() -> i32 {
    let mut code = exit::OK;
    for c in case::list(&cases_dir()) {
        match c {
            Ok(c) => {
                let k = &c.case;
                outln!(
                    "{:<26} {:<8} {:>4} it  {:<20} {}",
                    k.name,
                    if k.default_set { "default" } else { "" },
                    k.iterations,
                    k.guest.image,
                    k.description
                );
            }
            Err(e) => {
                outln!("error: {e}");
                code = exit::USAGE;
            }
        }
    }
    code
}

/// Runs the command; returns the exit code.
pub async fn run(a: &RigArgs, interrupt: std::sync::Arc<tokio::sync::Notify>) -> Result<i32> {
    if a.json {
        crate::out::prose_to_stderr();
    }
    let Some(dir) = &a.replay else { return go(a, paths::command_line(), None, interrupt).await };
    let replay = match replayed(a, dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (args, r) = replay;
    outln!("replaying {}: {}", r.file.display(), crate::replay::shown(&r.command));
    go(&args, r.command.clone(), Some(&r.report), interrupt).await
}

/// The recorded run in `dir` and its arguments, with the flags of `a` that say where and how.
fn replayed(a: &RigArgs, dir: &std::path::Path) -> Result<(RigArgs, crate::replay::Replay), String> {
    let value = |flag, v: Option<String>| v.map(|v| (flag, Some(v)));
    let switch = |flag, on: bool| on.then_some((flag, None));
    let how: Vec<(&str, Option<String>)> = [
        value("--runs-dir", a.runs_dir.as_ref().map(|d| d.to_string_lossy().into_owned())),
        value("--jobs", a.jobs.map(|n| n.to_string())),
        value("--memory-budget", a.memory_budget.map(|n| n.to_string())),
        switch("--json", a.json),
        switch("--keep-state", a.keep_state),
    ]
    .into_iter()
    .flatten()
    .collect();
    let r = crate::replay::read(dir, &how)?;
    let parsed = <Recorded as clap::Parser>::try_parse_from(
        std::iter::once("rig").chain(r.command[3..].iter().map(String::as_str)),
    )
    .map_err(|e| {
        format!(
            "--replay: {}: its command line does not parse today: {}",
            r.file.display(),
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    Ok((parsed.a, r))
}

/// Runs `a`, recorded as `command`; `replaying`: the report of the run it replays.
async fn go(
    a: &RigArgs,
    command: Vec<String>,
    replaying: Option<&rig::results::RunReport>,
    interrupt: std::sync::Arc<tokio::sync::Notify>,
) -> Result<i32> {
    let began = std::time::Instant::now();
    if a.list {
        return Ok(list());
    }
    let plan = match validate(a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let setup = match rig::setup::prepare(&paths::build_dir(), &rig::guest_os::default_image(), plan.accel).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::INFRA);
        }
    };
    if let Some(w) = &setup.warning {
        eprintln!("\n*** WARNING: {w} ***\n");
    }
    let run_dir = rig::rundir::create(&a.runs_dir.clone().unwrap_or_else(paths::runs_dir), "rig")?;
    crate::logs::to_file(&run_dir.join("rig.log"));
    // Held until the command ends (a bisection's probes run in subdirectories).
    let _running = rig::rundir::lock::hold(&run_dir)?;
    tracing::info!(command = ?std::env::args().collect::<Vec<_>>(), run_dir = %run_dir.display(), "run started");
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let names: Vec<&str> = plan.cases.iter().map(|c| c.case.name.as_str()).collect();
    outln!(
        "rig: {} on {} under {}, up to {} guest(s) at a time{}, seed {seed}; evidence in {}",
        names.join(", "),
        plan.cpus.iter().map(|c| c.name).collect::<Vec<_>>().join(","),
        setup.accel.as_str(),
        plan.jobs,
        plan.shard.map(|s| format!(", shard {s}")).unwrap_or_default(),
        run_dir.display()
    );
    let until_panic = a.until_panic.as_ref().map(|t| (!t.is_empty()).then(|| t.clone()));
    let mut iterations = a.iterations;
    if until_panic.is_some() {
        iterations = iterations.or(plan.until_panic_budget.map(|(_, n)| n)).or(a.max_iterations);
        if let Some((rate, _)) = plan.until_panic_budget
            && let Some(n) = iterations
        {
            outln!("{}", until_panic_line(rate, n));
        }
    }
    let p = Plan {
        cases: plan.cases,
        cpus: plan.cpus,
        accel: setup.accel,
        iterations,
        build_dir: paths::build_dir(),
        run_dir: run_dir.clone(),
        seed,
        compare: plan.compare,
        until_panic,
        dumps: plan.dumps,
        jobs: plan.jobs,
        memory_budget_mib: a.memory_budget,
        shard: plan.shard,
        snapshots: !a.no_snapshot,
        keep_state: a.keep_state,
        budget: plan.budget,
        interrupt: Some(interrupt),
        banked: None,
        inject: Default::default(),
        command: command.clone(),
    };
    let mut display = crate::progress::Display::new();
    if let Some(builds) = &plan.bisect {
        let (b, probes) = rig::engine::bisect::run(&p, builds, &mut |p: &Progress| display.show(p)).await;
        display.finish();
        let next = crate::next_step::after_bisection(&b, &command.join(" "));
        let (code, report) = bisect_report(&run_dir, b, probes);
        if run_dir.join("index.html").is_file() {
            outln!("{}", took_and_page(began, &run_dir));
        }
        outln!("{next}");
        return Ok(ended(a, report.as_ref(), replaying, code));
    }
    let report = campaign::run(&p, &mut |p: &Progress| display.show(p)).await;
    display.finish();
    out!("{}", rig::report::table::render(&report));
    crate::out::ci_summary(&report);
    outln!("report: {}  junit: {}", run_dir.join("report.json").display(), run_dir.join("junit.xml").display());
    outln!("{}", took_and_page(began, &run_dir));
    if let Some(next) = crate::next_step::after_run(&report, &command.join(" ")) {
        outln!("{next}");
    }
    let mut code = report.exit_code();
    if a.exit_for_bisect {
        let (answer, why) = rig::results::bisect_exit::bisect_answer(&report);
        let word = match answer {
            rig::results::bisect_exit::GOOD => "good",
            rig::results::bisect_exit::BAD => "bad",
            _ => "skip",
        };
        outln!("git bisect: {word} (exit {answer}): {why}");
        code = answer;
    }
    Ok(ended(a, Some(&report), replaying, code))
}

/// What follows a run's end: a replay's kernels checked against the recorded run's, the
/// verdicts as JSON (--json). Returns `code`.
fn ended(
    a: &RigArgs,
    report: Option<&rig::results::RunReport>,
    replaying: Option<&rig::results::RunReport>,
    code: i32,
) -> i32 {
    if let (Some(old), Some(new)) = (replaying, report) {
        for change in old.provenance.release_changes(&new.provenance) {
            eprintln!("warning: {change}");
        }
    }
    if a.json
        && let Some(r) = report
    {
        crate::out::data(&rig::report::verdicts::render(r, code));
    }
    code
}

/// The run's last line: how long it took (whole seconds) and the page to open.
fn took_and_page(began: std::time::Instant, run_dir: &std::path::Path) -> String {
    let took = std::time::Duration::from_secs(began.elapsed().as_secs());
    format!("took {}  page: {}", humantime::format_duration(took), run_dir.join("index.html").display())
}

/// Prints the bisection, writes its report (the probes' runs and comparisons, and the
/// bisection) and returns the exit code.
fn bisect_report(
    run_dir: &std::path::Path,
    b: rig::results::bisection::Bisection,
    probes: Vec<rig::results::RunReport>,
) -> (i32, Option<rig::results::RunReport>) {
    let interrupted = probes.iter().any(rig::results::RunReport::interrupted);
    let mut report = match probes.first() {
        Some(first) => first.clone(),
        None => {
            outln!("{}", b.render());
            return (exit::INFRA, None);
        }
    };
    for r in &probes[1..] {
        report.runs.extend(r.runs.iter().cloned());
        report.comparisons.extend(r.comparisons.iter().cloned());
        report.evidence_errors.extend(r.evidence_errors.iter().cloned());
        report.stopped_early = report.stopped_early.clone().or_else(|| r.stopped_early.clone());
        report.provenance.absorb(&r.provenance);
    }
    report.run_dir = run_dir.display().to_string();
    let code = if interrupted { exit::INTERRUPTED } else { b.exit_code() };
    out!("{}", b.render());
    report.bisection = Some(b);
    if let Err(e) = rig::report::write(run_dir, &report) {
        eprintln!("error: writing the bisection's report in {}: {e}", run_dir.display());
        return (exit::INFRA, Some(report));
    }
    outln!("report: {}", run_dir.join("report.json").display());
    (code, Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rig::dump::DumpPolicy;

    #[test]
    fn the_until_panic_chance_follows_the_real_budget() {
        let line = until_panic_line(0.1, 1);
        assert!(line.ends_with("up to 1 iterations (a 10% chance of seeing it at that rate)"), "{line}");
        assert!(until_panic_line(0.1, 22).contains("(a 90% chance"), "the rate's own budget");
        assert!(until_panic_line(0.5, 40).contains("(a >99% chance"), "never rounded up to a certainty");
        assert!(until_panic_line(1e-4, 1).contains("(a <1% chance"), "never rounded down to nothing");
    }

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: RigArgs,
    }

    fn plan(args: &[&str]) -> Result<Plan0, String> {
        // Clap's own refusals (a fixed choice spelt wrong) are bad input too.
        let t = T::try_parse_from(std::iter::once("rig").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        validate(&t.a)
    }

    /// Every example `--help` gives is a command line the parser takes (its flags and values;
    /// `testcases/my-case.yaml` stands for the user's file).
    #[test]
    fn the_help_examples_parse() {
        let examples: Vec<&str> = EXAMPLES.lines().filter_map(|l| l.trim().strip_prefix("cargo xtask rig")).collect();
        assert!(examples.len() > 5, "{EXAMPLES}");
        for e in examples {
            // The command, then the explanation after a run of spaces.
            let args = e.split("   ").next().unwrap().split_whitespace().collect::<Vec<_>>();
            if let Err(err) = T::try_parse_from(std::iter::once("rig").chain(args)) {
                panic!("`cargo xtask rig{e}` is refused: {err}");
            }
        }
    }

    #[test]
    fn defaults_to_epyc_auto_and_the_default_set() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.cpus[0].name, "epyc");
        assert_eq!(p.accel, AccelChoice::Auto);
        assert!(p.cases.iter().any(|c| c.case.name == "boot-smoke"));
        assert!(p.cases.iter().all(|c| c.case.default_set));
    }

    #[test]
    fn bad_input_is_explained() {
        assert!(plan(&["--cpu", "pentium"]).unwrap_err().contains("valid models: epyc"));
        assert!(plan(&["--accel", "xen"]).unwrap_err().contains("auto, kvm, tcg"));
        assert!(plan(&["--iterations", "0"]).is_err());
        assert!(plan(&["--max-iterations", "0"]).unwrap_err().contains("--max-iterations must be at least 1"));
        assert!(plan(&["--max-time", "0s"]).unwrap_err().contains("is zero"));
        assert!(plan(&["--max-time", "soon"]).unwrap_err().contains("write it like 90s"));
        assert!(plan(&["--iterations", "5", "--max-iterations", "9"]).unwrap_err().contains("one or the other"));
        let case = ["--case", "os-7410-miniature"];
        let bisect = |extra: &[&str]| plan(&[&case[..], extra].concat()).map(|p| p.bisect.unwrap());
        assert_eq!(
            bisect(&["--bisect", "linux-os7410-fixed,linux-os7410-debug"]).unwrap(),
            ["linux-os7410-fixed", "linux-os7410-debug"]
        );
        assert!(bisect(&["--bisect", "linux-os7410-debug"]).unwrap_err().contains("at least two builds"));
        assert!(bisect(&["--bisect", "linux,linux"]).unwrap_err().contains("'linux' is listed twice"));
        assert!(bisect(&["--bisect", "linux,nonesuch"]).unwrap_err().contains("unknown image 'nonesuch'"));
        assert!(
            bisect(&["--bisect", "linux,coal"])
                .unwrap_err()
                .contains("different guest OSes are mixed: linux is linux, coal is illumos")
        );
        assert!(
            bisect(&["--bisect", "linux,linux-kdump", "--iterations", "3"]).unwrap_err().contains("drop --iterations")
        );
        assert!(
            bisect(&["--bisect", "linux,linux-kdump", "--max-iterations", "0"]).unwrap_err().contains("at least 1")
        );
        assert!(plan(&["--bisect", "linux,linux-kdump"]).unwrap_err().contains("exactly one --case"));
        assert!(
            plan(&["--case", "boot-smoke", "--bisect", "linux,linux-kdump"]).unwrap_err().contains("has no `hunts:`")
        );
        assert!(
            bisect(&["--cpu", "epyc,skylake", "--bisect", "linux,linux-kdump"]).unwrap_err().contains("one CPU model")
        );
        assert_eq!(plan(&["--until-panic", "--expect-rate", "5%"]).unwrap().until_panic_budget, Some((0.05, 45)));
        assert_eq!(plan(&["--until-panic", "--expect-rate", "0.5"]).unwrap().until_panic_budget, Some((0.5, 4)));
        assert_eq!(
            plan(&["--until-panic", "--expect-rate", "5%", "--max-iterations", "9"]).unwrap().until_panic_budget,
            Some((0.05, 9))
        );
        assert!(plan(&["--until-panic", "--expect-rate", "often"]).unwrap_err().contains("like 5% or 0.05"));
        assert!(plan(&["--until-panic", "--expect-rate", "0"]).unwrap_err().contains("between 0.01% and 100%"));
        assert!(plan(&["--expect-rate", "5%"]).unwrap_err().contains("give --until-panic too"));
        let b = plan(&["--max-iterations", "40", "--max-time", "45m"]).unwrap().budget;
        assert_eq!((b.iterations, b.secs), (Some(40), Some(2700)));
        let e = plan(&["--case", "no-such-case"]).unwrap_err();
        assert!(e.contains("no such test case") && e.contains("boot-smoke"), "{e}");
        assert_eq!(plan(&["--cpu", "epyc,cascadelake", "--case", "boot-smoke"]).unwrap().cpus.len(), 2);
        assert!(plan(&["--compare", "linux"]).unwrap_err().contains("at least two images"));
        assert!(plan(&["--compare", "linux,nonesuch"]).unwrap_err().contains("unknown image 'nonesuch'"));
        assert!(plan(&["--jobs", "0"]).unwrap_err().contains("--jobs"));
        assert!(plan(&["--shard", "3/2"]).unwrap_err().contains("between 1 and N"));
        assert!(plan(&["--memory-budget", "100"]).unwrap_err().contains("no guest fits"));
        assert_eq!(plan(&["--shard", "2/3"]).unwrap().shard.unwrap().to_string(), "2/3");
    }

    #[test]
    fn counts_and_rates_are_bounded_where_they_are_parsed() {
        let most = rig::case::limits::MAX_ITERATIONS;
        for flag in ["--iterations", "--max-iterations"] {
            let e = plan(&[flag, "4294967295"]).unwrap_err();
            assert!(e.contains(&format!("{flag} 4294967295 is more than {most}")), "{e}");
            assert!(plan(&[flag, &most.to_string()]).is_ok(), "{flag} {most}");
        }
        for rate in ["NaN", "1e-300", "1e-10", "inf", "-5%", "101%"] {
            let e = plan(&["--until-panic", &format!("--expect-rate={rate}")]).unwrap_err();
            assert!(e.contains("between 0.01% and 100%"), "{rate}: {e}");
        }
        // A size past what bytes can count means no limit, not an overflow.
        let d = plan(&["--dump-max-mib", "18446744073709551615"]).unwrap().dumps;
        assert_eq!(d.max_bytes, Some(u64::MAX));
        // The figure --help gives for the smallest rate, within the iteration bound.
        let (_, n) = plan(&["--until-panic", "--expect-rate", "0.01%"]).unwrap().until_panic_budget.unwrap();
        assert!(n == 23025 && n <= most, "{n}");
        assert!(plan(&["--compare", "linux,linux"]).unwrap_err().contains("'linux' is listed twice"));
    }

    /// `--help` states the bounds the parser enforces, in the figures it enforces.
    #[test]
    fn help_states_the_bounds_that_are_enforced() {
        use clap::CommandFactory;
        let help = T::command().render_long_help().to_string();
        // An option's text: from its own line to the next option's, on one line.
        let flag = |name: &str| {
            let mut lines = help.lines().skip_while(|l| !l.trim_start().starts_with(&format!("--{name} <")));
            let first = lines.next().unwrap_or_else(|| panic!("--{name} in {help}"));
            let rest = lines.take_while(|l| !l.trim_start().starts_with('-'));
            std::iter::once(first).chain(rest).flat_map(str::split_whitespace).collect::<Vec<_>>().join(" ")
        };
        let most = rig::case::limits::MAX_ITERATIONS;
        for name in ["iterations", "max-iterations"] {
            assert!(flag(name).contains(&format!("1 to {most}")), "{}", flag(name));
        }
        let rate = flag("expect-rate");
        let least = format!("{}%", MIN_RATE * 100.0);
        assert!(rate.contains(&format!("between {least} and 100%")), "{rate}");
        let (_, n) = plan(&["--until-panic", "--expect-rate", &least]).unwrap().until_panic_budget.unwrap();
        assert!(rate.contains(&format!("{n} at {least}")), "the budget --help quotes is the one used: {n}; {rate}");
        let (_, n) = plan(&["--until-panic", "--expect-rate", "5%"]).unwrap().until_panic_budget.unwrap();
        assert!(rate.contains(&format!("{n} at 5%")), "{n}; {rate}");
    }

    /// Writes `text` to `name` in a fresh scratch directory `<tmp>/rig-cmd-<test>-<pid>`;
    /// returns the directory and the file.
    fn scratch_file(test: &str, name: &std::ffi::OsStr, text: &str) -> (PathBuf, PathBuf) {
        let d = std::env::temp_dir().join(format!("rig-cmd-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join(name);
        std::fs::write(&file, text).unwrap();
        (d, file)
    }

    /// Every argument either comes from the recorded run in a replay (and so cannot be given
    /// beside --replay), or is one of the few that say where and how it runs: a new flag
    /// cannot be dropped silently from a replay.
    #[test]
    fn every_flag_is_recorded_or_given_to_a_replay() {
        use clap::CommandFactory;
        let how = ["replay", "runs_dir", "jobs", "memory_budget", "json", "keep_state", "help", "version"];
        for arg in T::command().get_arguments() {
            let id = arg.get_id().as_str();
            assert!(RECORDED.contains(&id) != how.contains(&id), "--{id}: add it to RECORDED or to replayed()'s flags");
        }
        let given = plan(&["--replay", "/x", "--jobs", "1", "--json", "--keep-state", "--runs-dir", "/r"]);
        assert!(given.is_ok(), "{given:?}");
        for flag in ["--iterations=3", "--no-snapshot", "--accel=tcg", "--seed=2"] {
            assert!(plan(&["--replay", "/x", flag]).unwrap_err().contains("cannot be used with"), "{flag}");
        }
    }

    #[test]
    fn paths_that_are_not_what_they_should_be_are_refused() {
        let (d, file) = scratch_file("paths", "a-file".as_ref(), "");
        let e = plan(&["--runs-dir", file.to_str().unwrap()]).unwrap_err();
        assert!(e.contains("--runs-dir") && e.contains("is a regular file, not a directory"), "{e}");
        let e = plan(&["--case", d.to_str().unwrap()]).unwrap_err();
        assert!(e.contains("is a directory, not a regular file"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_guest_larger_than_the_host_is_bad_input() {
        let yaml = "name: big\nguest: { memory_mib: 1048576 }\nsteps:\n  - ssh: \"true\"\n";
        let (d, file) = scratch_file("memory", "big.yaml".as_ref(), yaml);
        let e = plan(&["--case", file.to_str().unwrap()]).unwrap_err();
        assert!(e.contains("guest.memory_mib 1048576 is more than this host's memory ("), "{e}");
        assert!(e.contains("big.yaml"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_case_path_need_not_be_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let yaml = "name: latin1\nsteps:\n  - ssh: \"true\"\n";
        let (d, file) = scratch_file("utf8", std::ffi::OsStr::from_bytes(b"caf\xe9.yaml"), yaml);
        let t = T::try_parse_from([std::ffi::OsStr::new("rig"), "--case".as_ref(), file.as_os_str()]);
        let p = validate(&t.map_err(|e| e.to_string()).unwrap().a).unwrap();
        assert_eq!(p.cases[0].file, file);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn dumps_keep_the_first_two_per_signature_unless_told() {
        let keep = |args: &[&str]| plan(args).map(|p| (p.dumps.policy, p.dumps.per_signature));
        assert_eq!(keep(&[]), Ok((DumpPolicy::All, Some(2))));
        assert_eq!(keep(&["--dumps", "first:5"]), Ok((DumpPolicy::All, Some(5))));
        assert_eq!(keep(&["--dumps", "all"]), Ok((DumpPolicy::All, None)));
        assert_eq!(keep(&["--dumps", "panic"]), Ok((DumpPolicy::Panic, None)));
        assert!(keep(&["--dumps", "first:0"]).unwrap_err().starts_with("--dumps: "));
    }
}
