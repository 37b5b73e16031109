//! The `cargo xtask rig` exit codes a CI job relies on, from the real binary.

use std::process::Command;

#[test]
fn a_run_in_which_nothing_ran_does_not_exit_0() {
    // `--cpu host` needs KVM; under TCG every case × CPU is skipped before any guest boots.
    let runs = std::env::temp_dir().join(format!("rig-exit-codes-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rig", "--cpu", "host", "--accel", "tcg", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(rig::report::model::NOTHING_RAN), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("NOTHING RAN: every case x CPU was skipped"), "{stdout}");
    assert!(stdout.contains("skipped"), "{stdout}");
    let _ = std::fs::remove_dir_all(&runs);
}
