//! `cargo xtask`: the rig's command line. Thin: parse, fill defaults, call `rig`.

// First, so its `out!`/`outln!` are in scope in every module below.
#[macro_use]
mod out;
mod bench;
mod choices;
mod completions;
mod exit;
mod history_cmd;
mod image_cmd;
mod logs;
mod next_step;
mod paths;
mod progress;
mod replay;
mod report_cmd;
mod reproduce_cmd;
mod reproduce_story;
mod reproduce_window;
mod rig_cmd;
mod runs_cmd;
mod signals;
mod test_cmd;
mod test_lanes;
mod test_times;
mod triage;
mod triage_score;

use clap::{Parser, Subcommand};

/// The rig's version and the git commit it was built from (`unknown` outside a checkout).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("RIG_GIT_COMMIT"), ")");

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", version = VERSION, bin_name = "cargo xtask", about = "rig: boot guests under QEMU/KVM, race reboots against module reloads, read panics", after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Boot guests with the chosen CPU models and check them from inside.
    #[command(version = VERSION, display_name = "cargo xtask rig")]
    Rig(rig_cmd::RigArgs),
    /// Read a console log and print the crash reports found in it.
    Triage(triage::TriageArgs),
    /// From a customer's panic text to a reproduction: the cases that hunt it (or a draft), run until it comes.
    Reproduce(reproduce_cmd::ReproduceArgs),
    /// Measure the rig's speed against baselines (boot overhead, ...).
    Bench(bench::BenchArgs),
    /// Make guest images from your files (your Linux kernel, a SmartOS coal headnode); list and prune them.
    Image(image_cmd::ImageArgs),
    /// Work with run reports (merge the reports of sharded runs).
    Report(report_cmd::ReportArgs),
    /// List recent runs, say where a crash was seen, import run directories (build/history.sqlite, or $RIG_HISTORY).
    History(history_cmd::HistoryArgs),
    /// Install the host prerequisites, build the guest image, and run the whole test suite.
    Test(test_cmd::TestArgs),
    /// Remove old run directories (`runs prune --keep N | --older-than D`).
    Runs(runs_cmd::RunsArgs),
    /// Print a shell completion script for `cargo xtask` (see the README to install it).
    Completions(completions::CompletionsArgs),
}

fn main() {
    let cli = Cli::parse();
    logs::init();
    let code = match cli.command {
        Command::Rig(args) => run_async(|interrupt| async move { rig_cmd::run(&args, interrupt).await }),
        Command::Triage(args) => triage::run(&args),
        Command::Reproduce(args) => run_async(|interrupt| async move { reproduce_cmd::run(&args, interrupt).await }),
        Command::Test(args) => test_cmd::run(&args),
        Command::Report(args) => report_cmd::run(&args),
        Command::History(args) => history_cmd::run(&args),
        // A file that is not what it should be is bad input (exit 2), not an infrastructure failure.
        Command::Image(args) => image_cmd::run(&args).or_else(|e| {
            eprintln!("error: {e:#}");
            Ok(exit::USAGE)
        }),
        Command::Bench(args) => run_async(|_| async move { bench::run(&args).await }),
        Command::Runs(args) => runs_cmd::run(&args),
        Command::Completions(args) => completions::run(&args, <Cli as clap::CommandFactory>::command()),
    };
    match code {
        Ok(code) => std::process::exit(out::exit_code(code)),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(exit::INFRA);
        }
    }
}

/// Runs `work` on a tokio runtime. Ctrl-C, SIGTERM or SIGHUP notifies `work` (a campaign then stops
/// at once, kills its guests and writes the report of what ran) and exits 130; work that does
/// not finish within a few seconds of the signal is dropped, which kills its guests too.
fn run_async<F, Fut>(work: F) -> anyhow::Result<i32>
where
    F: FnOnce(std::sync::Arc<tokio::sync::Notify>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i32>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut stop = signals::StopSignals::catch()?;
        let interrupt = std::sync::Arc::new(tokio::sync::Notify::new());
        let work = work(interrupt.clone());
        tokio::pin!(work);
        let signal = tokio::select! {
            r = &mut work => return r,
            s = stop.first() => s,
        };
        eprintln!("\nrig: {signal}; stopping guests and writing the report");
        interrupt.notify_one();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), &mut work).await;
        Ok(exit::INTERRUPTED)
    })
}
