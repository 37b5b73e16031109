//! `cargo xtask triage`: read a console log, syslog or mdb output and print its crash reports.

/// Arguments of `cargo xtask triage`.
#[derive(clap::Args, Debug)]
pub struct TriageArgs {
    /// The file to read, or `-` for standard input.
    pub file: String,
}

/// Runs the triage command; returns the process exit code.
pub fn run(_args: &TriageArgs) -> anyhow::Result<i32> {
    anyhow::bail!("triage is not implemented yet")
}
