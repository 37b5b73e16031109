//! `triage` as a stream, from the real binary: memory bounded by the report, not the input;
//! reports printed while the input is still open; an unusable stdout or an empty corpus is
//! an error.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// A real crash (the text after the header of one corpus file).
fn real_crash() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../rig/testdata/real/virt-pvm-7-vcpu-null-deref.txt");
    let bytes = std::fs::read(path).expect("corpus file");
    let at = bytes.windows(2).position(|w| w == b"\n\n").expect("header end") + 2;
    bytes[at..].to_vec()
}

/// Runs `triage -` fed by `feed`; returns (stdout, peak RSS in KiB, exit code).
#[allow(clippy::zombie_processes, reason = "reaped by wait4, which also gives its peak RSS")]
fn triage_fed(feed: impl FnOnce(&mut std::process::ChildStdin) + Send + 'static) -> (String, i64, i32) {
    let mut child = xtask().args(["triage", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || feed(&mut stdin));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, whose pid we hold; `usage` is a valid rusage.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0, "wait4: {}", std::io::Error::last_os_error());
    writer.join().unwrap();
    (reader.join().unwrap(), usage.ru_maxrss, libc::WEXITSTATUS(status))
}

#[test]
fn a_500_mb_log_stays_under_100_mb() {
    let crash = real_crash();
    let (out, rss_kib, code) = triage_fed(move |stdin| {
        let line = b"[   12.345678] systemd[1]: Started an ordinary service, nothing to see on this console\n";
        let block: Vec<u8> = line.iter().copied().cycle().take(line.len() * 10_000).collect();
        let (mut written, mut crashed) = (0, false);
        while written < 500 << 20 {
            if !crashed && written >= 250 << 20 {
                stdin.write_all(&crash).unwrap();
                crashed = true;
            }
            stdin.write_all(&block).unwrap();
            written += block.len();
        }
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("crash 1: BUG: unable to handle kernel NULL pointer dereference in pvm_vcpu_run"), "{out}");
    assert!(rss_kib < 100 * 1024, "peak RSS {rss_kib} KiB for a 500 MB log");
}

#[test]
fn endless_zeros_stay_bounded() {
    let (out, rss_kib, code) = triage_fed(|stdin| {
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..300 {
            stdin.write_all(&zeros).unwrap();
        }
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no crash found"), "{out}");
    assert!(rss_kib < 100 * 1024, "peak RSS {rss_kib} KiB for 300 MB of NULs on one line");
}

#[test]
fn a_report_is_printed_while_the_input_is_still_open() {
    let mut child = xtask().args(["triage", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&real_crash()).unwrap();
    // The kernel's closing line ends the report; the log itself goes on (stdin stays open).
    stdin.write_all(b"[  347.4] ---[ end Kernel panic - not syncing: Fatal exception ]---\n").unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.starts_with("crash 1: ") => {
                drop(stdin);
                assert!(child.wait().unwrap().success());
                return;
            }
            Ok(line) => seen.push(line),
            Err(_) => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no report within 30 s while the input was open; printed: {seen:?}");
}

#[test]
fn stdout_closed_from_the_start_is_an_error() {
    let log = concat!(env!("CARGO_MANIFEST_DIR"), "/../rig/testdata/real/virt-pvm-7-vcpu-null-deref.txt");
    let mut cmd = xtask();
    cmd.args(["triage", log]).stderr(Stdio::piped());
    // SAFETY: only async-signal-safe `close` between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("stdout is closed"), "{err}");
    // `>/dev/null` is a choice, not a closed stdout.
    assert_eq!(xtask().args(["triage", log]).stdout(Stdio::null()).status().unwrap().code(), Some(0));
}

#[test]
fn scoring_an_empty_corpus_is_an_error() {
    let dir = std::env::temp_dir().join(format!("rig-empty-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = xtask().args(["triage", "--score"]).arg(&dir).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(!stdout.contains("100"), "{stdout}");
    assert!(stderr.contains("no cases to score"), "{stderr}");
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn the_real_corpus_scores_per_os_and_form() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rig/testdata/real");
    let out = xtask().args(["triage", "--score", dir]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.lines().next().is_some_and(|l| l.ends_with("right (100.0%)")), "{stdout}");
    assert!(stdout.contains("per OS:\n  illumos") && stdout.contains("\n  linux "), "{stdout}");
    assert!(stdout.contains("per form:") && stdout.contains("  mdb-C-demangle "), "{stdout}");
}

#[test]
fn a_file_whose_name_is_not_utf8_is_read() {
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("rig-triage-name-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(std::ffi::OsStr::from_bytes(b"console-\xff.log"));
    std::fs::write(&path, real_crash()).unwrap();
    let out = xtask().arg("triage").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("crash 1:"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
