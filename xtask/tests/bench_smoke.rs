//! `cargo xtask bench` runs and writes its figures: the snapshot and parallel benchmarks once
//! failed on a fresh clone (their run directories were never made) and nothing noticed, since
//! nothing ran them. Small sizes here; the figures themselves are the benchmark's business.

use std::path::Path;
use std::process::Command;

fn bench(args: &[&str]) -> String {
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output();
    assert!(
        qemu.is_ok_and(|o| o.status.success()),
        "qemu-system-x86_64 is missing: run the suite through `cargo xtask test`, which installs it"
    );
    let out =
        Command::new(env!("CARGO_BIN_EXE_xtask")).arg("bench").args(args).output().expect("starting cargo xtask bench");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "bench {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

fn figures(name: &str) -> serde_json::Value {
    let dir = std::env::var_os("RIG_BUILD_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../build"));
    let path = dir.join("bench").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn the_snapshot_and_parallel_benchmarks_run_and_write_their_figures() {
    let out = bench(&["snapshot", "--iterations", "2", "--accel", "tcg"]);
    assert!(out.contains("snapshot-restore iteration"), "{out}");
    let s = figures("snapshot");
    assert!(s["restore_iteration_secs"].as_f64().is_some_and(|t| t > 0.0), "{s}");
    assert!(s["reboot_iteration_secs"].as_f64().is_some_and(|t| t > 0.0), "{s}");

    let out = bench(&["parallel", "--iterations", "2", "--accel", "tcg"]);
    assert!(out.contains("parallel reboot iterations"), "{out}");
    let p = figures("parallel");
    let curve = p["curve"].as_array().unwrap();
    assert!(curve.len() >= 2, "1 and 2 guests at least: {p}");
    assert!(curve.iter().all(|c| c[1].as_f64().is_some_and(|t| t > 0.0)), "{p}");
}
