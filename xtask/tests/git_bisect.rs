//! `cargo xtask rig --exit-for-bisect` from the real binary: the answers `git bisect run`
//! reads, on real guests (the OS-7410 miniature's debug build is bad, the plain guest good).

use std::process::{Command, Output};

/// Runs `cargo xtask rig ARGS --exit-for-bisect` under TCG with its own runs directory.
fn rig(label: &str, args: &[&str]) -> Output {
    let runs = std::env::temp_dir().join(format!("rig-git-bisect-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&runs).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rig", "--accel", "tcg", "--cpu", "epyc", "--exit-for-bisect", "--runs-dir"])
        .arg(&runs)
        .args(args)
        .output()
        .expect("starting the rig");
    let _ = std::fs::remove_dir_all(&runs);
    out
}

fn said(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_hunted_panic_is_bad_and_a_clean_run_is_good() {
    let out = rig(
        "bad",
        &[
            "--case",
            "os-7410-miniature",
            "--image",
            "linux-os7410-debug",
            "--until-panic",
            "--iterations",
            "4",
            "--seed",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("git bisect: bad (exit 1)"), "{}", said(&out));
    // The command to run next: where else the hunted crash was seen.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "next: where else this crash was seen: cargo xtask history --signature 'kernel BUG in vmm_zsd_destroy'"
        ),
        "{}",
        said(&out)
    );

    let out = rig("good", &["--case", "boot-smoke", "--iterations", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("git bisect: good (exit 0)"), "{}", said(&out));
}

#[test]
fn it_is_refused_with_the_rigs_own_bisection() {
    let out = rig("usage", &["--case", "os-7410-miniature", "--bisect", "linux-os7410-b1,linux-os7410-b6"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use one or the other"), "{}", said(&out));
}
