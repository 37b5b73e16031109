//! `cargo xtask`: the rig's command line. Thin: parse, fill defaults, call `rig`.

mod triage;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "The rig's command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read a console log and print the crash reports found in it.
    Triage(triage::TriageArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Triage(args) => triage::run(&args),
    };
    match code {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
