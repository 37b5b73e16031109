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

/// A directory holding a report.json of an empty shard `shard` with `seed`.
fn shard_report(root: &std::path::Path, shard: &str, seed: u64) -> std::path::PathBuf {
    let dir = root.join(shard.replace('/', "-of-"));
    std::fs::create_dir_all(&dir).unwrap();
    let json = format!(
        r#"{{"schema":1,"accel":"tcg","seed":{seed},"run_dir":"x","shard":"{shard}","stopped_early":null,"runs":[],"comparisons":[]}}"#
    );
    std::fs::write(dir.join("report.json"), json).unwrap();
    dir
}

fn merge(args: &[&std::path::Path], out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["report", "merge"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("starting the rig")
}

#[test]
fn merge_refuses_to_overwrite_an_input_or_to_mix_campaigns() {
    let root = std::env::temp_dir().join(format!("rig-merge-{}", std::process::id()));
    let a = shard_report(&root, "1/2", 7);
    let b = shard_report(&root, "2/2", 8);
    let before = std::fs::read(a.join("report.json")).unwrap();

    let out = merge(&[&a, &b], &a);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("would overwrite it"), "{err}");
    assert_eq!(std::fs::read(a.join("report.json")).unwrap(), before, "the input was changed");

    let out = merge(&[&a, &b], &root.join("merged"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("report 2/2 has seed 8 where the first has 7"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
