//! The `cargo xtask rig` exit codes a CI job relies on, from the real binary.

use std::process::Command;

#[test]
fn a_run_in_which_nothing_ran_does_not_exit_0() {
    // `--cpu host` needs KVM; under TCG every case × CPU is skipped before any guest boots.
    let runs = std::env::temp_dir().join(format!("rig-exit-codes-{}", std::process::id()));
    std::fs::create_dir_all(&runs).unwrap();
    // As under GitHub Actions: the summary page gets the same verdict.
    let summary = runs.join("step-summary.md");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["rig", "--cpu", "host", "--accel", "tcg", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(rig::results::model::NOTHING_RAN), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("NOTHING RAN: every case x CPU was skipped"), "{stdout}");
    assert!(stdout.contains("skipped"), "{stdout}");
    assert!(stdout.trim_end().ends_with("next: CPU models this host can run: `cargo xtask rig --cpu epyc` (under TCG an AMD model nests; an Intel one needs KVM)"), "{stdout}");
    let md = std::fs::read_to_string(&summary).expect("the CI summary was written");
    assert!(md.starts_with("### rig: NOTHING RAN: every case x CPU was skipped (exit 4)"), "{md}");
    assert!(md.contains("| boot-smoke | host |"), "{md}");
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn a_run_records_where_it_came_from_and_ends_naming_its_page() {
    let runs = std::env::temp_dir().join(format!("rig-provenance-{}", std::process::id()));
    std::fs::create_dir_all(&runs).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rig", "--cpu", "host", "--accel", "tcg", "--seed", "5", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let run_dir = std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap();
    let p = &json["provenance"];
    let command: Vec<&str> = p["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&command[..6], ["cargo", "xtask", "rig", "--cpu", "host", "--accel"], "{p}");
    assert!(command.contains(&"--seed") && command.contains(&"5"), "{p}");
    for time in ["started", "ended"] {
        let t = p[time].as_str().unwrap();
        assert!(humantime::parse_rfc3339(t).is_ok() && t.ends_with('Z'), "{time}: {p}");
    }
    assert!(p["started"].as_str() <= p["ended"].as_str(), "{p}");
    assert!(p["qemu_version"].as_str().unwrap().starts_with("QEMU emulator version "), "{p}");
    let commit = p["rig_commit"].as_str().unwrap().trim_end_matches("-dirty");
    assert_eq!(commit.len(), 40, "{p}");
    assert!(!p["host"].as_str().unwrap().is_empty(), "{p}");
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(p["cwd"].as_str(), Some(cwd.display().to_string().as_str()), "{p}");
    // The run's log file keeps what the terminal leaves out (the rig's info and debug lines).
    let log = std::fs::read_to_string(run_dir.join("rig.log")).expect("the run's rig.log");
    assert!(log.contains("run started") && log.contains(&run_dir.display().to_string()), "{log}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("run started"), "the terminal shows warnings only");
    // The last lines: the report, then the total time and the page.
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("report: ")).unwrap_or_else(|| panic!("{stdout}"));
    let page = run_dir.join("index.html");
    assert!(
        lines[at + 1..].iter().any(|l| l.starts_with("took ") && l.ends_with(&format!("page: {}", page.display()))),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn the_rig_says_its_version_and_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["rig", "--version"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let head = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim_end(), format!("cargo xtask rig {} (commit {head})", env!("CARGO_PKG_VERSION")));
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
        // A merge is recorded in the history: keep it out of the workspace's.
        .env("RIG_BUILD_DIR", out.parent().unwrap())
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
    assert!(err.contains("2-of-2/report.json (shard 2/2) has seed 8 where the first ("), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

/// A console log with one Linux crash, for `triage`.
fn crash_log(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("console.log");
    std::fs::write(
        &log,
        "[   42.1] kernel BUG at mm/x.c:1!\n[   42.2] invalid opcode: 0000 [#1] SMP\n[   42.3] RIP: 0010:f+0x1/0x2\n\
         [   42.4] Kernel panic - not syncing: Fatal exception\n",
    )
    .unwrap();
    log
}

#[test]
fn a_full_or_closed_stdout_is_an_error_for_triage() {
    let dir = std::env::temp_dir().join(format!("rig-stdout-{}", std::process::id()));
    let log = crash_log(&dir);
    let triage = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
        c.args(["triage"]).arg(&log);
        c
    };
    // A full device: said on stderr, exit 3 (it was 0, the write error swallowed).
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = triage().stdout(full).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("error: writing to stdout: No space left on device"), "{err}");

    // A reader that went away (`| head -1`): no panic; for triage, whose output is its whole
    // work, an error (exit 3), not a success nobody saw.
    let mut child = triage().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // The same for `report merge`, whose table went through `println!` (a panic, exit 101);
    // its merged report is written all the same.
    let (a, b) = (shard_report(&dir, "1/2", 7), shard_report(&dir, "2/2", 7));
    let merged = dir.join("merged");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["report", "merge"])
        .args([&a, &b])
        .arg("--out")
        .arg(&merged)
        .env("RIG_BUILD_DIR", &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(4), "nothing ran in these empty shards: {err}");
    assert!(merged.join("report.json").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_bisections_exit_2_before_any_guest_starts() {
    let runs = std::env::temp_dir().join(format!("rig-bisect-usage-{}", std::process::id()));
    std::fs::create_dir_all(&runs).unwrap();
    for (args, says) in [
        (&["--case", "os-7410-miniature", "--bisect", "linux-os7410-b1"][..], "at least two builds"),
        (&["--case", "os-7410-miniature", "--bisect", "linux-os7410-b1,linux-os7410-b1"][..], "listed twice"),
        (&["--case", "os-7410-miniature", "--bisect", "linux-os7410-b1,nonesuch"][..], "unknown image 'nonesuch'"),
        (&["--case", "os-7410-miniature", "--bisect", "linux,coal"][..], "different guest OSes are mixed"),
        (&["--case", "boot-smoke", "--bisect", "linux,linux-kdump"][..], "has no `hunts:`"),
        (&["--case", "os-7410-miniature", "--bisect", "linux,linux-kdump", "--max-iterations", "0"][..], "at least 1"),
    ] {
        refused(&[&["rig"][..], args].concat(), &runs, says);
    }
    let _ = std::fs::remove_dir_all(&runs);
}

/// Runs `cargo xtask ARGS` (with `--runs-dir RUNS` for `rig`) and checks it refused them: exit
/// 2, saying `says`, before any run directory was made.
fn refused(args: &[&str], runs: &std::path::Path, says: &str) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args);
    if args[0] == "rig" {
        cmd.arg("--runs-dir").arg(runs);
    }
    let out = cmd.output().expect("starting the rig");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    // Refused before anything ran: no run directory was made.
    assert_eq!(std::fs::read_dir(runs).unwrap().count(), 0, "{args:?}");
}

#[test]
fn a_bad_fixed_choice_exits_2_listing_the_valid_ones() {
    let runs = std::env::temp_dir().join(format!("rig-choice-usage-{}", std::process::id()));
    std::fs::create_dir_all(&runs).unwrap();
    for (args, says) in [
        (&["rig", "--accel", "xen"][..], "[possible values: auto, kvm, tcg]"),
        (&["rig", "--dump-format", "zip"][..], "[possible values: kdump, elf]"),
        (&["rig", "--cpu", "pentium"][..], "valid models: epyc"),
        (&["bench", "nonesuch"][..], "[possible values: boot, engine, dumps"),
        (&["bench", "crash", "--accel", "xen"][..], "[possible values: auto, kvm, tcg]"),
    ] {
        refused(args, &runs, says);
    }
    let _ = std::fs::remove_dir_all(&runs);
}

/// A report.json at `<root>/<name>/` of shard `shard`, from `json` (a report's fields).
fn report_at(root: &std::path::Path, name: &str, json: serde_json::Value) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report.json"), json.to_string()).unwrap();
    dir.join("report.json")
}

/// An empty shard's report; `iteration_secs` adds a run with one iteration that took that long.
fn shard_json(shard: &str, seed: u64, schema: u32, iteration_secs: Option<f64>) -> serde_json::Value {
    let runs = match iteration_secs {
        None => serde_json::json!([]),
        Some(secs) => serde_json::json!([{
            "case": "c", "file": "c.yaml", "cpu": "epyc", "image": "linux", "iterations_planned": 2,
            "assigned": [1], "hunts": null, "compared": false, "stopped": null, "not_run": null,
            "iterations": [{"index": 1, "outcome": {"kind": "completed"}, "verdict": "pass", "secs": secs,
                            "seed": 1, "evidence": "e", "steps": []}],
            "tally": {"ran": 1, "pass": 1, "fail": 0, "error": 0, "skipped": 0, "panics": 0, "hangs": 0,
                      "panic_rate": 0.0, "titles": []}
        }]),
    };
    serde_json::json!({"schema": schema, "accel": "tcg", "seed": seed, "run_dir": "x", "shard": shard,
                       "stopped_early": null, "runs": runs, "comparisons": []})
}

#[test]
fn merge_names_the_input_at_fault_and_refuses_bad_reports_and_outs() {
    let root = std::env::temp_dir().join(format!("rig-merge-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let refused = |inputs: &[&std::path::Path], out: &std::path::Path, says: &[&str]| {
        let o = merge(inputs, out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{says:?}: {err}");
        for s in says {
            assert!(err.contains(s), "wanted {s:?} in: {err}");
        }
        assert!(!out.join("report.json").exists() || !out.is_dir() || out == root.join("runs"), "{says:?}");
    };
    let out = root.join("merged");
    let a = report_at(&root, "a", shard_json("1/2", 7, 1, None));
    // Two reports that both say they are shard 1/2: the error names the file, not "1/2".
    let b = report_at(&root, "b", shard_json("1/2", 8, 1, None));
    refused(&[&a, &b], &out, &[&format!("{} (shard 1/2) has seed 8", b.display())]);
    let future = report_at(&root, "future", shard_json("2/2", 7, 999, None));
    refused(&[&a, &future], &out, &[&future.display().to_string(), "schema 999", "reads schema 1"]);
    let negative = report_at(&root, "negative", shard_json("2/2", 7, 1, Some(-5.0)));
    refused(&[&a, &negative], &out, &[&negative.display().to_string(), "took -5 s"]);
    let good = report_at(&root, "good", shard_json("2/2", 7, 1, Some(5.0)));
    let file = root.join("a-file");
    std::fs::write(&file, "mine").unwrap();
    refused(&[&a, &good], &file, &["--out", "is a regular file, not a directory"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    // The runs root is where every run directory goes, not one merged report.
    let runs = root.join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    refused(&[&a, &good], &runs, &["--out", "the runs root"]);
    assert!(!runs.join("report.json").exists());
    let o = merge(&[&a, &good], &out);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_counts_cases_and_paths_exit_2_before_any_guest_starts() {
    use std::os::unix::ffi::OsStrExt;
    let runs = std::env::temp_dir().join(format!("rig-bad-input-{}", std::process::id()));
    let cases = runs.with_extension("cases");
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::create_dir_all(&cases).unwrap();
    let case = |name: &str, text: &str| {
        let p = cases.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let vcpus = case("vcpus.yaml", "name: x\nguest:\n  vcpus: 4294967295\nsteps:\n  - ssh: \"true\"\n");
    let memory = case("memory.yaml", "name: x\nguest: { memory_mib: 4294967295 }\nsteps:\n  - ssh: \"true\"\n");
    let long = case("long.yaml", &format!("name: {}\nsteps:\n  - ssh: \"true\"\n", "n".repeat(5000)));
    let a_dir = cases.display().to_string();
    for (args, says) in [
        (&["--iterations", "4294967295"][..], "--iterations 4294967295 is more than 100000".to_string()),
        (&["--max-iterations", "4294967295"][..], "--max-iterations 4294967295 is more than 100000".into()),
        (&["--until-panic", "--expect-rate", "1e-10"][..], "between 0.01% and 100%".into()),
        (&["--until-panic", "--expect-rate", "NaN"][..], "between 0.01% and 100%".into()),
        (&["--compare", "linux,linux"][..], "'linux' is listed twice".into()),
        (&["--case", &vcpus][..], format!("{vcpus}:3:3: guest.vcpus: 4294967295 is more than 256")),
        (&["--case", &memory][..], format!("{memory}:2:10: guest.memory_mib: 4294967295 is more than")),
        (&["--case", &long][..], format!("{long}:1:1: name: 5000 characters")),
        (&["--case", &a_dir][..], "is a directory, not a regular file".into()),
    ] {
        refused(&[&["rig"][..], args].concat(), &runs, &says);
    }
    // A path that is not UTF-8 is taken as it is: the case is read (and refused for its content).
    let latin1 = cases.join(std::ffi::OsStr::from_bytes(b"caf\xe9.yaml"));
    std::fs::write(&latin1, "name: x\niterations: 0\nsteps:\n  - ssh: \"true\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["rig", "--case"]).arg(&latin1).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(".yaml:2:1: iterations: must be at least 1"), "{err}");
    // --runs-dir a file: bad input, not an infrastructure failure.
    let file = cases.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["rig", "--runs-dir"]).arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is a regular file, not a directory"), "{err}");
    let _ = std::fs::remove_dir_all(&runs);
    let _ = std::fs::remove_dir_all(&cases);
}

#[test]
fn json_puts_the_verdicts_alone_on_stdout() {
    let runs = std::env::temp_dir().join(format!("rig-json-{}", std::process::id()));
    std::fs::create_dir_all(&runs).unwrap();
    // Every case × CPU is skipped before any guest boots (`--cpu host` needs KVM).
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rig", "--cpu", "host", "--accel", "tcg", "--seed", "8", "--json", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout:\n{}\nstderr:\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(rig::results::model::NOTHING_RAN), "{stderr}");
    assert_eq!(v["exit_code"], rig::results::model::NOTHING_RAN, "{v}");
    assert_eq!(v["seed"], 8, "{v}");
    let run_dir = std::path::Path::new(v["run_dir"].as_str().unwrap());
    assert!(run_dir.join("report.json").is_file(), "{v}");
    let verdicts = v["runs"].as_array().unwrap();
    assert!(!verdicts.is_empty(), "{v}");
    for r in verdicts {
        assert_eq!((r["cpu"].as_str(), r["verdict"].as_str()), (Some("host"), Some("skipped")), "{r}");
        assert!(r["why"].as_str().is_some_and(|w| w.contains("KVM")), "{r}");
    }
    // The prose the terminal shows is on stderr.
    assert!(stderr.contains("NOTHING RAN: every case x CPU was skipped"), "{stderr}");
    assert!(stderr.contains("page: "), "{stderr}");
    let _ = std::fs::remove_dir_all(&runs);
}

#[test]
fn a_replay_of_what_cannot_be_replayed_exits_2_naming_the_file() {
    let root = std::env::temp_dir().join(format!("rig-replay-bad-{}", std::process::id()));
    let runs = root.join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let report = |name: &str, text: Option<&str>| {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        if let Some(t) = text {
            std::fs::write(d.join("report.json"), t).unwrap();
        }
        (d.display().to_string(), d.join("report.json").display().to_string())
    };
    let missing = root.join("no-such-run").display().to_string();
    let (empty, empty_file) = report("empty", None);
    let (garbled, garbled_file) = report("garbled", Some("{\"schema\": 1, \"seed\": "));
    let old = serde_json::json!({"schema": 1, "accel": "tcg", "seed": 3, "run_dir": "x", "shard": null,
                                 "stopped_early": null, "runs": [], "comparisons": []});
    let (old, old_file) = report("old", Some(&old.to_string()));
    for (dir, says) in [
        (missing.clone(), format!("--replay {missing}: No such file or directory")),
        (empty, format!("{empty_file}: No such file or directory")),
        (garbled, format!("{garbled_file}: not a run report that reads: EOF")),
        (old, format!("{old_file} records no command line")),
    ] {
        refused(&["rig", "--replay", &dir], &runs, &says);
    }
    // What a replay takes from the recorded run cannot be given beside it.
    refused(&["rig", "--replay", &missing, "--seed", "4"], &runs, "cannot be used with");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_bash_completion_completes_cargo_xtask_and_leaves_cargo_to_its_own() {
    // A completion `cargo` had before (rustup's, bash-completion's) still answers for the rest.
    let script = format!(
        r#"_before() {{ COMPREPLY=(build-from-before); }}
complete -F _before cargo
source <('{}' completions bash) || exit 9
complete -p cargo
q() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _rig_cargo cargo "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; echo "$* => ${{COMPREPLY[*]}}"; }}
q cargo xtask ''
q cargo xtask rig --cp
q cargo xtask rig --accel ''
q cargo bu
"#,
        env!("CARGO_BIN_EXE_xtask")
    );
    let out = Command::new("bash").args(["--norc", "-c", &script]).output().expect("running bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "complete -o bashdefault -o default -F _rig_cargo cargo", "{text}");
    let answer = |asked: &str| {
        lines.iter().find_map(|l| l.strip_prefix(&format!("{asked} => "))).unwrap_or_else(|| panic!("{asked}: {text}"))
    };
    let subcommands: Vec<&str> = answer("cargo xtask ").split(' ').collect();
    for s in ["rig", "history", "completions"] {
        assert!(subcommands.contains(&s), "{text}");
    }
    assert_eq!(answer("cargo xtask rig --cp"), "--cpu");
    assert_eq!(answer("cargo xtask rig --accel "), "auto kvm tcg");
    assert_eq!(answer("cargo bu"), "build-from-before");
    // The other shells get a script too (not run here: no zsh nor fish on this host).
    for (shell, says) in [("zsh", "bashcompinit"), ("fish", "complete -c cargo -n \"__rig_is_xtask\"")] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains(says), "{shell}");
    }
}

#[test]
fn runs_prune_removes_old_runs_but_never_the_newest_a_running_one_or_anything_else() {
    let root = std::env::temp_dir().join(format!("rig-runs-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let names = ["2026-01-01T000000-rig", "2026-01-02T000000-rig", "2026-01-03T000000-bench", "2026-01-04T000000-rig"];
    for n in names {
        std::fs::create_dir_all(root.join(n).join("boot-1")).unwrap();
        std::fs::write(root.join(n).join("boot-1").join("ttyS0.log"), "x").unwrap();
    }
    std::fs::create_dir_all(root.join("notes")).unwrap();
    // A run that still goes: its lock is held (here by this test, as a rig would).
    let running = rig::rundir::lock::hold(&root.join(names[1])).unwrap();
    let prune = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["runs", "prune"])
            .args(args)
            .arg("--runs-dir")
            .arg(&root)
            .output()
            .expect("starting the rig");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    };
    let left = || {
        let mut l: Vec<String> =
            std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        l.sort();
        l
    };
    let (code, text) = prune(&["--older-than", "1d"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("kept {}: its run still goes", root.join(names[1]).display())), "{text}");
    assert!(text.contains("2 run(s) removed"), "{text}");
    assert_eq!(left(), [names[1], names[3], "notes"], "{text}");
    drop(running);
    let (code, text) = prune(&["--keep", "1"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(left(), [names[3], "notes"], "{text}");
    for (args, says) in [
        (&["--keep", "0"][..], "0 is not in 1.."),
        (&["--older-than", "soon"][..], "write it like 7d"),
        (&[][..], "--keep N or --older-than DURATION"),
    ] {
        let (code, text) = prune(args);
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_image_build_says_so_and_its_time_and_a_cached_one_says_nothing() {
    let root = std::env::temp_dir().join(format!("rig-image-build-says-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let build = root.join("build");
    std::fs::create_dir_all(&build).unwrap();
    // The workspace's downloaded packages, so the build fetches nothing it already has.
    let debs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/debs");
    if debs.is_dir() {
        std::os::unix::fs::symlink(&debs, build.join("debs")).unwrap();
    }
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .env("RIG_BUILD_DIR", &build)
            .args(["rig", "--cpu", "host", "--accel", "tcg", "--case", "boot-smoke", "--runs-dir"])
            .arg(root.join("runs"))
            .output()
            .expect("starting the rig");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = run();
    let lines: Vec<&str> = first.lines().collect();
    let said = lines.iter().position(|l| *l == "rig: building image linux...").unwrap_or_else(|| panic!("{first}"));
    let built =
        lines[said..].iter().find(|l| l.starts_with("rig: image linux built in ")).unwrap_or_else(|| panic!("{first}"));
    let took = built.trim_start_matches("rig: image linux built in ");
    assert!(humantime::parse_duration(took).is_ok(), "{built}");
    let again = run();
    assert!(!again.contains("building image"), "a cached image is not built again: {again}");
    let _ = std::fs::remove_dir_all(&root);
}
