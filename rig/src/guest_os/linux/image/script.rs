//! Recipe scripts (`build.sh`, build hooks) and everything they start die with the rig, even
//! when the rig is killed with SIGKILL, which no handler sees.
//!
//! A script runs in a process group of its own; a guardian (`sh`, in a group of its own too, so
//! a terminal's Ctrl-C does not end it first) waits for end-of-file on a pipe whose only writer
//! is the rig. When the rig goes, however it goes, the kernel closes the pipe and the guardian
//! kills the script's whole group: the compilers and tools under `build.sh` and its hooks
//! included. When the script ends first, the guardian is ended without acting.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};

/// Runs `cmd` to its end like [`Command::output`], its process group bound to the rig's life.
pub fn output(cmd: &mut Command) -> io::Result<Output> {
    let child = cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let guardian = guard(child.id())?;
    let out = child.wait_with_output();
    stand_down(guardian);
    out
}

/// The guardian of process group `pgid`: kills it once its stdin (the rig's pipe) closes.
fn guard(pgid: u32) -> io::Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' INT TERM HUP; read _ignored; kill -KILL "-$0" 2>/dev/null"#)
        .arg(pgid.to_string())
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Ends a guardian whose script ended (killing it before its pipe closes, so it never acts on
/// a group id that may be reused).
fn stand_down(mut guardian: Child) {
    let _ = guardian.kill();
    let _ = guardian.wait();
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const CHILD_ENV: &str = "RIG_SCRIPT_TEST_PIDFILE";

    fn alive(pid: i32) -> bool {
        // A zombie is gone for this purpose: it holds no resources but its entry.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    }

    /// Run as a child process by the test below: starts a script whose grandchild outlives it
    /// unless killed, and waits (to be SIGKILLed).
    #[test]
    #[ignore = "the rig that a_scripts_children_die_with_a_killed_rig starts and kills"]
    fn script_grandchild_holder() {
        let pidfile = std::env::var(CHILD_ENV).expect("run by a_scripts_children_die_with_a_killed_rig");
        let script = format!("sleep 300 & echo $! > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; wait");
        let _ = output(Command::new("sh").arg("-c").arg(script));
    }

    #[test]
    fn a_scripts_children_die_with_a_killed_rig() {
        let pidfile = std::env::temp_dir().join(format!("rig-script-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&pidfile);
        let mut rig = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "guest_os::linux::image::script::tests::script_grandchild_holder",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, &pidfile)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let began = Instant::now();
        let grandchild: i32 = loop {
            if let Ok(s) = std::fs::read_to_string(&pidfile) {
                break s.trim().parse().unwrap();
            }
            assert!(began.elapsed() < Duration::from_secs(60), "the script never started");
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = std::fs::remove_file(&pidfile);
        assert!(alive(grandchild));
        rig.kill().unwrap(); // SIGKILL: no handler of the rig runs
        rig.wait().unwrap();
        let began = Instant::now();
        while alive(grandchild) && began.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(grandchild), "the script's child {grandchild} outlived the killed rig");
    }

    #[test]
    fn a_script_that_ends_gives_its_output_and_status() {
        let out = output(Command::new("sh").arg("-c").arg("echo out; echo err >&2; exit 3")).unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }
}
