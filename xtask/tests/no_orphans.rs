//! Ctrl-C, SIGTERM, SIGHUP and SIGKILL of the rig leave no QEMU behind. Runs the real
//! `cargo xtask rig` binary on the real guest.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

fn start_rig(runs: &Path) -> Child {
    start_rig_with(runs, &[])
}

fn start_rig_with(runs: &Path, extra: &[&str]) -> Child {
    assert!(
        Command::new("qemu-system-x86_64").arg("--version").stdout(Stdio::null()).status().is_ok(),
        "qemu-system-x86_64 is missing: run the suite through `cargo xtask test`, which installs it"
    );
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["rig", "--cpu", "epyc", "--accel", "tcg", "--runs-dir"])
        .arg(runs)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the rig")
}

/// Waits until the rig has started QEMU, and returns QEMU's pid (from the run's evidence).
fn wait_for_qemu(runs: &Path, rig: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Some(st) = rig.try_wait().unwrap() {
            panic!("the rig exited ({st}) before starting QEMU");
        }
        if let Some(pid) = find_pid(runs) {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the rig did not start QEMU within 300 s");
}

fn find_pid(dir: &Path) -> Option<i32> {
    find_pids(dir).into_iter().next()
}

/// Every QEMU pid the rig recorded under `dir`.
fn find_pids(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(find_pids(&p));
        } else if p.file_name().is_some_and(|n| n == "qemu.pid")
            && let Some(pid) = std::fs::read_to_string(&p).ok().and_then(|s| s.trim().parse().ok())
        {
            out.push(pid);
        }
    }
    out
}

fn runs_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-orphans-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn check_signal(sig: i32, name: &str) {
    let runs = runs_dir(name);
    let mut rig = start_rig(&runs);
    let qemu = wait_for_qemu(&runs, &mut rig);
    assert!(alive(qemu));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(rig.id() as i32, sig) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while rig.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rig.try_wait().unwrap().is_some(), "the rig did not exit on {name}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(qemu) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(qemu), "QEMU {qemu} outlived the rig after {name}");
    let report = find_file(&runs, "report.json").expect("a report.json, written as the run goes");
    let r: rig::results::RunReport = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let table = rig::report::table::render(&r);
    if sig != libc::SIGKILL {
        // Interrupted, the rig still leaves the report of what ran, and says it was interrupted.
        assert!(r.stopped_early.as_ref().is_some_and(|s| s.to_string().contains("interrupted")), "{r:?}");
        assert!(r.finished, "{r:?}");
        assert!(table.contains("INTERRUPTED: 0 of 1 iterations ran"), "{table}");
        let junit = std::fs::read_to_string(report.with_file_name("junit.xml")).unwrap();
        assert!(junit.contains("interrupted: 0 of 1 iterations ran") && !junit.contains("tests=\"0\""), "{junit}");
        assert_eq!(rig.try_wait().unwrap().and_then(|s| s.code()), Some(130));
    } else {
        // Killed: the last report written while it ran says the run never ended.
        assert!(!r.finished, "{r:?}");
        assert!(table.starts_with("UNFINISHED"), "{table}");
        assert_eq!(r.exit_code(), 3);
    }
    let _ = std::fs::remove_dir_all(&runs);
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

#[test]
fn ctrl_c_leaves_no_qemu() {
    check_signal(libc::SIGINT, "sigint");
}

#[test]
fn sigterm_leaves_no_qemu() {
    check_signal(libc::SIGTERM, "sigterm");
}

#[test]
fn sighup_leaves_no_qemu() {
    // The terminal or SSH session that started the rig went away: stopped like SIGTERM.
    check_signal(libc::SIGHUP, "sighup");
}

#[test]
fn a_killed_rig_leaves_no_qemu() {
    check_signal(libc::SIGKILL, "sigkill");
}

#[test]
fn a_killed_rig_leaves_no_qemu_with_parallel_guests() {
    let runs = runs_dir("parallel");
    let mut rig = start_rig_with(&runs, &["--case", "kvm-reload-reboot-race", "--iterations", "4", "--jobs", "2"]);
    let deadline = Instant::now() + Duration::from_secs(300);
    let pids = loop {
        if let Some(st) = rig.try_wait().unwrap() {
            panic!("the rig exited ({st}) before starting two guests");
        }
        let pids: Vec<i32> = find_pids(&runs).into_iter().filter(|&p| alive(p)).collect();
        if pids.len() >= 2 {
            break pids;
        }
        assert!(Instant::now() < deadline, "two guests never ran at once");
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(rig.id() as i32, libc::SIGKILL) };
    let _ = rig.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in pids {
        assert!(!alive(p), "QEMU {p} outlived the killed rig");
    }
    let _ = std::fs::remove_dir_all(&runs);
}
