//! `cargo xtask history` and `triage --history` from the real binary, on a temporary build
//! directory: two runs imported, a crash's rates per run and build, triage naming the case.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const TITLE: &str = "kernel BUG in vmm_zsd_destroy";

/// An iteration: a panic with `TITLE`, or one that completed.
fn iteration(run_dir: &Path, index: u32, panicked: bool) -> Value {
    let outcome = if panicked {
        json!({"kind": "panic", "report": null, "title": TITLE, "excerpt": "", "dumps": [], "triage": ""})
    } else {
        json!({"kind": "completed"})
    };
    json!({
        "index": index, "outcome": outcome, "verdict": if panicked { "fail" } else { "pass" },
        "secs": 1.0, "seed": index, "evidence": run_dir.join(format!("zsd-race/boot-{index}")), "steps": []
    })
}

/// Writes `<root>/<name>/report.json`: the case zsd-race on `image`, `hits` of `ran` panicking.
fn run_dir(root: &Path, name: &str, image: &str, hits: u32, ran: u32) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let iterations: Vec<Value> = (1..=ran).map(|i| iteration(&dir, i, i <= hits)).collect();
    let titles = if hits > 0 { json!([[TITLE, hits]]) } else { json!([]) };
    let report = json!({
        "schema": 1, "accel": "tcg", "seed": 7, "run_dir": dir, "shard": null, "stopped_early": null,
        "comparisons": [],
        "runs": [{
            "case": "zsd-race", "file": "testcases/zsd-race.yaml", "cpu": "epyc", "image": image,
            "iterations_planned": ran, "assigned": (1..=ran).collect::<Vec<u32>>(), "hunts": null,
            "compared": false, "stopped": null, "not_run": null, "iterations": iterations,
            "tally": {"ran": ran, "pass": ran - hits, "fail": hits, "error": 0, "skipped": 0, "panics": hits,
                      "hangs": 0, "panic_rate": f64::from(hits) / f64::from(ran), "titles": titles}
        }]
    });
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    dir
}

fn xtask(build: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).env("RIG_BUILD_DIR", build).output().expect("starting the rig")
}

/// Stdout, asserting the exit code.
fn ok(out: Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

#[test]
fn two_runs_then_the_signature_and_triage_name_them() {
    let root = std::env::temp_dir().join(format!("rig-history-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (build, artifacts) = (root.join("build"), root.join("artifacts"));
    let a = run_dir(&artifacts, "run-a", "linux-os7410-debug", 3, 10);
    run_dir(&artifacts, "run-b", "linux-os7410-debug", 1, 4);
    // The build identity comes from the image directory QEMU was given.
    std::fs::create_dir_all(a.join("zsd-race/boot-1")).unwrap();
    std::fs::write(
        a.join("zsd-race/boot-1/qemu.cmdline"),
        "-kernel /b/images/linux-os7410-debug-2c99f560239fa7d2/vmlinux",
    )
    .unwrap();

    let none = ok(xtask(&build, &["history"]), 0);
    assert!(none.contains("no history yet"), "{none}");
    let bad = xtask(&build, &["history", "import", &root.join("missing").display().to_string()]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));

    // A directory of run directories, as CI artifacts are; importing again replaces.
    let artifacts_arg = artifacts.display().to_string();
    let imported = ok(xtask(&build, &["history", "import", &artifacts_arg]), 0);
    assert_eq!(imported.matches(": recorded\n").count(), 2, "{imported}");
    ok(xtask(&build, &["history", "import", &a.display().to_string()]), 0);
    let listed = ok(xtask(&build, &["history"]), 0);
    assert_eq!(listed.matches(&format!("crash: {TITLE}")).count(), 2, "{listed}");

    let seen = ok(xtask(&build, &["history", "--signature", TITLE]), 0);
    assert!(seen.contains("4 hits; first seen"), "{seen}");
    assert!(seen.contains("zsd-race on epyc, linux-os7410-debug (2c99f560239fa7d2): 3/10 (30.0%)"), "{seen}");
    assert!(seen.contains("zsd-race on epyc, linux-os7410-debug: 1/4 (25.0%)"), "{seen}");
    assert!(seen.contains(&a.join("zsd-race/boot-1").display().to_string()), "evidence: {seen}");
    let by_part = ok(xtask(&build, &["history", "--signature", "VMM_ZSD"]), 0);
    assert!(by_part.contains("4 hits"), "{by_part}");

    let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rig/testdata/linux/console-kernel-bug-vmm-zsd.txt");
    let triage = ok(xtask(&build, &["triage", &console.display().to_string(), "--history"]), 0);
    assert!(triage.contains(&format!("crash 1: {TITLE}")), "{triage}");
    assert!(triage.contains("history:   known: 4 hits"), "{triage}");
    assert!(triage.contains("zsd-race on epyc, linux-os7410-debug (2c99f560239fa7d2): 3/10"), "{triage}");

    // A damaged database: a clear error, exit 2, the file left as it was.
    let db = build.join("history.sqlite");
    std::fs::write(&db, b"not sqlite at all, just some words that are long enough to be a header").unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = xtask(&build, &["history", "import", &artifacts_arg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a usable rig history database"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn reading_the_history_writes_nothing_and_a_damaged_one_is_named() {
    let root = std::env::temp_dir().join(format!("rig-history-read-only-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let build = root.join("build");
    std::fs::create_dir_all(&build).unwrap();
    let db = build.join("history.sqlite");
    // An empty file (a crashed first run, a `touch`) is an empty history, left as it is.
    std::fs::write(&db, b"").unwrap();
    for args in [&["history"][..], &["history", "--signature", TITLE]] {
        let said = ok(xtask(&build, args), 0);
        assert!(said.contains("no history yet") || said.contains("no crash matching"), "{args:?}: {said}");
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "{args:?} wrote the history");
    }
    // A database whose pages past the first are damaged: exit 2, naming the file.
    run_dir(&root, "run-a", "linux", 1, 2);
    ok(xtask(&build, &["history", "import", &root.join("run-a").display().to_string()]), 0);
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    bytes[4096..].fill(0xff);
    std::fs::write(&db, &bytes).unwrap();
    for args in [&["history"][..], &["history", "--signature", TITLE]] {
        let out = xtask(&build, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&db.display().to_string()) && err.contains("malformed"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn rig_history_keeps_the_database_outside_the_build_directory() {
    let root = std::env::temp_dir().join(format!("rig-history-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let build = root.join("build");
    let kept = root.join("kept").join("history.sqlite");
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    let a = run_dir(&root, "run-a", "linux-os7410-debug", 1, 2);
    let with_env = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env("RIG_BUILD_DIR", &build)
            .env("RIG_HISTORY", &kept)
            .output()
            .expect("starting the rig")
    };
    let imported = ok(with_env(&["history", "import", &a.display().to_string()]), 0);
    assert!(imported.contains(&format!("history: {}", kept.display())), "{imported}");
    assert!(kept.is_file() && !build.join("history.sqlite").exists());
    // Readers find it there too.
    assert!(ok(with_env(&["history"]), 0).contains(&format!("crash: {TITLE}")));
    assert!(ok(xtask(&build, &["history"]), 0).starts_with("no history yet"), "without RIG_HISTORY: the build's own");
    let _ = std::fs::remove_dir_all(&root);
}
