//! `cargo xtask`: the rig's command line. Thin: parse, fill defaults, call `rig`.

mod bench_cmd;
mod bench_crash;
mod exit;
mod image_cmd;
mod paths;
mod report_cmd;
mod rig_cmd;
mod test_cmd;
mod triage;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "rig: boot guests under QEMU/KVM, race reboots against module reloads, read panics", after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Boot guests with the chosen CPU models and check them from inside.
    Rig(rig_cmd::RigArgs),
    /// Read a console log and print the crash reports found in it.
    Triage(triage::TriageArgs),
    /// Measure the rig's speed against baselines (boot overhead, ...).
    Bench(bench_cmd::BenchArgs),
    /// Prepare a guest image from a user's file (SmartOS coal).
    Image(image_cmd::ImageArgs),
    /// Work with run reports (merge the reports of sharded runs).
    Report(report_cmd::ReportArgs),
    /// Install the host prerequisites, build the guest image, and run the whole test suite.
    Test(test_cmd::TestArgs),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RIG_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let code = match cli.command {
        Command::Rig(args) => run_async(async move { rig_cmd::run(&args).await }),
        Command::Triage(args) => triage::run(&args),
        Command::Test(args) => test_cmd::run(&args),
        Command::Report(args) => report_cmd::run(&args),
        // A file that is not what it should be is bad input (exit 2), not an infrastructure failure.
        Command::Image(args) => image_cmd::run(&args).or_else(|e| {
            eprintln!("error: {e:#}");
            Ok(exit::USAGE)
        }),
        Command::Bench(args) => run_async(async move { bench_cmd::run(&args).await }),
    };
    match code {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(exit::INFRA);
        }
    }
}

/// Runs `work` on a tokio runtime; Ctrl-C or SIGTERM drops it (guests die with it: dropping a
/// guest kills its QEMU) and exits 130.
fn run_async<F: std::future::Future<Output = anyhow::Result<i32>>>(work: F) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => { eprintln!("rig: interrupted; stopping guests"); Ok(exit::INTERRUPTED) }
            _ = term.recv() => { eprintln!("rig: terminated; stopping guests"); Ok(exit::INTERRUPTED) }
        }
    })
}
