//! Running QEMU: finding the binary and owning the child process.

pub mod exit;
pub mod img;
pub mod process;

pub use exit::QemuExit;
pub use process::QemuProcess;

use std::path::PathBuf;

/// The QEMU system emulator the rig runs: `$RIG_QEMU` if set, else `qemu-system-x86_64` on PATH.
pub fn qemu_binary() -> PathBuf {
    std::env::var_os("RIG_QEMU").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// A process's state as `/proc/<pid>/stat` gives it (`R (running)`, `T (stopped)`, ...), for
/// evidence when QEMU stops answering.
pub fn proc_state(pid: i32) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_state(&stat),
        Err(e) => format!("no /proc entry ({e})"),
    }
}

/// The state field of a `/proc/<pid>/stat` line, in words.
fn stat_state(stat: &str) -> String {
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    let code = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("?");
    let word = match code {
        "R" => "running",
        "S" => "sleeping",
        "D" => "in uninterruptible sleep",
        "T" => "stopped",
        "t" => "stopped by a tracer",
        "Z" => "a zombie",
        _ => "state unknown",
    };
    format!("{code} ({word})")
}

#[cfg(test)]
mod tests {
    #[test]
    fn stat_states() {
        assert_eq!(super::stat_state("4242 (qemu-system-x86) T 1 4242 4242 0 -1"), "T (stopped)");
        assert_eq!(super::stat_state("7 (a (b) c) R 1"), "R (running)");
        let me = super::proc_state(std::process::id() as i32);
        assert!(me == "R (running)" || me == "S (sleeping)", "{me}");
        assert!(super::proc_state(-1).starts_with("no /proc entry"));
    }
}
