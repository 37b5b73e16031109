//! The whole suite in lanes: the test binaries are built once (`cargo test --no-run`), then run
//! side by side instead of one after another, each binary's output printed whole when it ends
//! (cargo's own `Running` line first, so the lines read as `cargo test`'s do).
//!
//! The binaries that boot coal stand-ins ([`HEAVY`]: minutes of TCG boots each, one such guest
//! at a time) run one after another in a lane of their own; the rest share the other lanes,
//! longest first. On a 2-core host that is two lanes, and the suite takes about the time of
//! the heavy lane instead of the sum of all.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The test binaries that boot coal stand-ins (they take `heavy_guest_slot`; a test checks
/// this list against the test sources), slowest first.
pub const HEAVY: &[&str] = &["coal_engine", "coal_stand_in"];

/// The binaries known to take minutes, slowest first: they start first in their lanes so no
/// lane is left with a long one at the end. The rest follow in cargo's order.
const SLOW: &[&str] = &[
    "reproduce_window_guest",
    "engine",
    "user_kernel",
    "reproduce_guest",
    "bisect",
    "sequential",
    "git_bisect",
    "os7410_series",
    "no_orphans",
    "guest_boot",
    "bench_smoke",
    "run_page",
    "dumps",
];

/// One test binary, built.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// As cargo names it when it runs it: `tests/engine.rs`, `unittests src/lib.rs`.
    pub name: String,
    /// Cargo's target name (`engine`, `rig`, `xtask`).
    pub target: String,
    /// The executable.
    pub path: PathBuf,
    /// Its package's directory: cargo runs tests there.
    pub package_dir: PathBuf,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    test: bool,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
    src_path: PathBuf,
}

/// The test binaries in cargo's `--message-format=json` output.
pub fn binaries_in(json: &str) -> Vec<TestBinary> {
    let mut out = Vec::new();
    for line in json.lines().filter(|l| l.starts_with('{')) {
        let Ok(m) = serde_json::from_str::<Message>(line) else { continue };
        let (Some(t), Some(path), Some(manifest)) = (m.target, m.executable, m.manifest_path) else { continue };
        // Integration tests have cargo build the binaries they run too (not tests themselves).
        if m.reason != "compiler-artifact" || !m.profile.is_some_and(|p| p.test) {
            continue;
        }
        let package_dir = manifest.parent().map(PathBuf::from).unwrap_or_default();
        let src = t.src_path.strip_prefix(&package_dir).unwrap_or(&t.src_path).display().to_string();
        let name = if t.kind.iter().any(|k| k == "test") { src } else { format!("unittests {src}") };
        out.push(TestBinary { name, target: t.name, path, package_dir });
    }
    out
}

/// Builds every test binary of the workspace, cargo's progress shown as it goes.
pub fn build(workspace: &std::path::Path) -> Result<Vec<TestBinary>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace)
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !out.status.success() {
        bail!("building the tests failed ({})", out.status);
    }
    let bins = binaries_in(&String::from_utf8_lossy(&out.stdout));
    if bins.is_empty() {
        bail!("cargo test --no-run built no test binary");
    }
    Ok(bins)
}

/// The two queues: the heavy binaries (run one after another), and the rest (shared by the
/// light lanes), slowest first.
pub fn queues(bins: Vec<TestBinary>) -> (VecDeque<TestBinary>, VecDeque<TestBinary>) {
    let rank = |list: &[&str], b: &TestBinary| list.iter().position(|n| *n == b.target && b.name.starts_with("tests/"));
    let (mut heavy, mut rest): (Vec<_>, Vec<_>) = bins.into_iter().partition(|b| rank(HEAVY, b).is_some());
    heavy.sort_by_key(|b| rank(HEAVY, b));
    rest.sort_by_key(|b| rank(SLOW, b).unwrap_or(SLOW.len()));
    (heavy.into(), rest.into())
}

/// Runs the heavy queue in one lane and the light queue in `light` lanes (a lane takes the
/// next binary when it is free; the heavy lane takes light ones once the heavy are done). Each binary's output goes to `print` whole, once it ends.
/// Returns the names of the binaries that failed.
pub fn run(
    heavy: VecDeque<TestBinary>,
    light: VecDeque<TestBinary>,
    light_lanes: usize,
    print: impl Fn(&str) + Sync,
) -> Vec<String> {
    let (heavy, light) = (Mutex::new(heavy), Mutex::new(light));
    let failed = Mutex::new(Vec::new());
    let lane = |queue: &Mutex<VecDeque<TestBinary>>| loop {
        let Some(b) = queue.lock().unwrap().pop_front() else { return };
        let (text, ok) = run_one(&b, ceiling());
        if !ok {
            failed.lock().unwrap().push(b.name.clone());
        }
        print(&text);
    };
    std::thread::scope(|s| {
        // The heavy lane helps with the rest once its own queue is empty.
        s.spawn(|| {
            lane(&heavy);
            lane(&light);
        });
        for _ in 0..light_lanes.max(1) {
            s.spawn(|| lane(&light));
        }
    });
    failed.into_inner().unwrap()
}

/// How long one test binary may run, in minutes, unless `RIG_TEST_CEILING_MINS` says
/// otherwise: the guest tests' own ceiling (`rig/tests/common`, the same variable) plus a few
/// minutes, so theirs speaks first; this one holds for every binary, xtask's included.
const CEILING_MINS: f64 = 45.0;

/// A test binary's ceiling: [`CEILING_MINS`], or `RIG_TEST_CEILING_MINS` plus 5 minutes.
fn ceiling() -> Duration {
    let mins = std::env::var("RIG_TEST_CEILING_MINS").ok().and_then(|m| m.parse::<f64>().ok()).map(|m| m + 5.0);
    Duration::from_secs_f64(mins.filter(|m| m.is_finite() && *m > 0.0).unwrap_or(CEILING_MINS) * 60.0)
}

/// Runs one binary as cargo would (in its package's directory); its output with cargo's
/// `Running` line first, and whether it passed. A binary still running at `ceiling` is
/// killed (its QEMU children die with it: they have a parent-death signal) and fails, saying so.
fn run_one(b: &TestBinary, ceiling: Duration) -> (String, bool) {
    let began = Instant::now();
    eprintln!("rig-test: started {}", b.name);
    let mut text = format!("     Running {} ({})\n", b.name, b.path.display());
    let child = Command::new(&b.path)
        .current_dir(&b.package_dir)
        .env("CARGO_MANIFEST_DIR", &b.package_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            text.push_str(&format!("error: starting {}: {e}\n", b.path.display()));
            return (text, false);
        }
    };
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let pid = child.id() as libc::pid_t;
    let watchdog = std::thread::spawn(move || {
        let over = matches!(watch.recv_timeout(ceiling), Err(std::sync::mpsc::RecvTimeoutError::Timeout));
        if over {
            // SAFETY: a plain signal to the child, still unreaped: `run_one` reaps it only
            // after its pipes close, which this kill makes them do.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        over
    });
    // Both pipes read at once (a full stderr pipe would block the test otherwise).
    let err = child.stderr.take().map(|e| std::thread::spawn(move || read_all(e)));
    let out = child.stdout.take().map(read_all).unwrap_or_default();
    let err = err.and_then(|h| h.join().ok()).unwrap_or_default();
    let _ = done.send(());
    let over = watchdog.join().unwrap_or(false);
    let status = child.wait();
    text.push_str(&out);
    text.push_str(&err);
    if over {
        text.push_str(&format!(
            "error: {} ran past its ceiling of {:.0} s (RIG_TEST_CEILING_MINS): killed\n",
            b.name,
            ceiling.as_secs_f64()
        ));
    }
    let ok = !over && status.as_ref().is_ok_and(|s| s.success());
    if !ok {
        text.push_str(&format!("error: test failed: {} ({:?})\n", b.name, status));
    }
    eprintln!("rig-test: {} ended in {:.0} s", b.name, began.elapsed().as_secs_f64());
    (text, ok)
}

fn read_all(r: impl Read) -> String {
    let mut s = String::new();
    for line in BufReader::new(r).lines() {
        match line {
            Ok(l) => {
                s.push_str(&l);
                s.push('\n');
            }
            Err(_) => break,
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str, kind: &str, src: &str, exe: Option<&str>, test: bool) -> String {
        let exe = exe.map_or("null".to_string(), |e| format!("\"{e}\""));
        format!(
            r#"{{"reason":"compiler-artifact","package_id":"x","manifest_path":"/w/rig/Cargo.toml","target":{{"name":"{name}","kind":["{kind}"],"src_path":"/w/rig/{src}"}},"profile":{{"test":{test}}},"executable":{exe}}}"#
        )
    }

    #[test]
    fn test_binaries_are_read_from_cargos_json_and_named_as_cargo_names_them() {
        let json = [
            artifact("rig", "lib", "src/lib.rs", Some("/t/deps/rig-1"), true),
            artifact("rig", "lib", "src/lib.rs", None, false),
            artifact("engine", "test", "tests/engine.rs", Some("/t/deps/engine-2"), true),
            // The binary an integration test runs: built, not a test.
            artifact("xtask", "bin", "src/main.rs", Some("/t/xtask"), false),
            r#"{"reason":"build-finished","success":true}"#.to_string(),
        ]
        .join("\n");
        let bins = binaries_in(&json);
        let names: Vec<&str> = bins.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["unittests src/lib.rs", "tests/engine.rs"]);
        assert_eq!(bins[1].path, PathBuf::from("/t/deps/engine-2"));
        assert_eq!(bins[1].package_dir, PathBuf::from("/w/rig"));
    }

    #[test]
    fn heavy_binaries_get_their_own_lane_and_slow_ones_go_first() {
        let b = |target: &str, name: &str| TestBinary {
            name: name.into(),
            target: target.into(),
            path: PathBuf::new(),
            package_dir: PathBuf::new(),
        };
        let bins = vec![
            b("rig", "unittests src/lib.rs"),
            b("coal_stand_in", "tests/coal_stand_in.rs"),
            b("layers", "tests/layers.rs"),
            b("engine", "tests/engine.rs"),
            b("coal_engine", "tests/coal_engine.rs"),
        ];
        let (heavy, light) = queues(bins);
        let names = |q: &VecDeque<TestBinary>| q.iter().map(|b| b.target.clone()).collect::<Vec<_>>();
        assert_eq!(names(&heavy), ["coal_engine", "coal_stand_in"]);
        assert_eq!(names(&light), ["engine", "rig", "layers"]);
    }

    /// Every test file that boots coal stand-ins (takes the heavy slot) is in [`HEAVY`], so
    /// none runs beside another in the light lanes.
    #[test]
    fn every_binary_that_takes_the_heavy_slot_is_listed_heavy() {
        let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rig/tests");
        let mut found = Vec::new();
        for e in std::fs::read_dir(&tests).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rs")
                && std::fs::read_to_string(&p).unwrap().contains("heavy_guest_slot()")
            {
                found.push(p.file_stem().unwrap().to_string_lossy().to_string());
            }
        }
        found.sort();
        let mut heavy: Vec<String> = HEAVY.iter().map(|s| s.to_string()).collect();
        heavy.sort();
        assert_eq!(found, heavy);
    }

    /// Once the heavy queue is empty, its lane runs light binaries too: with one light lane, a
    /// light binary that waits for another light one to run ends only if the heavy lane takes it.
    /// A "test binary" that is a shell script running `body`, in `dir`.
    fn script(dir: &std::path::Path, name: &str, body: String) -> TestBinary {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        TestBinary { name: name.into(), target: name.into(), path, package_dir: dir.to_path_buf() }
    }

    #[test]
    fn a_binary_past_its_ceiling_is_killed_and_fails_saying_so() {
        let dir = std::env::temp_dir().join(format!("rig-lanes-ceiling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stuck = script(&dir, "stuck", "echo started; exec sleep 600".into());
        let began = Instant::now();
        let (text, ok) = run_one(&stuck, Duration::from_secs(1));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!ok, "{text}");
        assert!(began.elapsed() < Duration::from_secs(60), "{:?}", began.elapsed());
        assert!(text.contains("started\n") && text.contains("stuck ran past its ceiling of 1 s"), "{text}");
        // One that ends in time is judged by its exit status alone.
        let dir = std::env::temp_dir().join(format!("rig-lanes-ceiling-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (text, ok) = run_one(&script(&dir, "quick", "exit 0".into()), Duration::from_secs(60));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(ok && !text.contains("ran past its ceiling"), "{text}");
    }

    #[test]
    fn the_heavy_lane_helps_with_the_light_queue_once_its_own_is_done() {
        let dir = std::env::temp_dir().join(format!("rig-lanes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flag = dir.join("flag");
        let script = |name: &str, body: String| script(&dir, name, body);
        // Waits up to 60 s for the flag, then fails.
        let waiter = script(
            "waiter",
            format!("for i in $(seq 600); do [ -e {0} ] && exit 0; sleep 0.1; done; exit 1", flag.display()),
        );
        let setter = script("setter", format!("touch {}", flag.display()));
        let failed = run(VecDeque::new(), VecDeque::from([waiter, setter]), 1, |_| {});
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(failed.is_empty(), "failed: {failed:?}");
    }
}
