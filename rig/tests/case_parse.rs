//! Test-case parsing: every shipped case loads; every file in `testdata/cases/bad/` fails with
//! the error its first line names (`# ERROR: line:col: message`, the message may be a prefix).
//! Adding a bad case is adding a file.

use std::path::{Path, PathBuf};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_cases_load() {
    let dir = manifest().join("../testcases");
    let all = rig::case::list(&dir);
    assert!(all.len() >= 3, "expected the shipped cases in {}", dir.display());
    for c in all {
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.case.steps.is_empty());
    }
    let race = rig::case::find(&dir, "kvm-reload-reboot-race").unwrap();
    assert!(race.case.default_set);
    assert_eq!(race.case.guest.vcpus, 2);
}

#[test]
fn bad_cases_fail_with_file_line_column_and_message() {
    let dir = manifest().join("testdata/cases/bad");
    let mut n = 0;
    let mut wrong = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let want = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# ERROR: "))
            .unwrap_or_else(|| panic!("{} lacks an ERROR line", path.display()));
        let err = rig::case::load(&path).expect_err(&format!("{} should not load", path.display()));
        let got = err.to_string();
        let prefix = format!("{}:", path.display());
        assert!(got.starts_with(&prefix), "{got}");
        let rest = &got[prefix.len()..];
        if !rest.starts_with(want) {
            wrong.push(format!("{}:\n  want: {want}\n  got:  {rest}", path.display()));
        }
        n += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(n >= 15, "only {n} bad cases in {}", dir.display());
}

#[test]
fn a_missing_case_names_the_known_ones() {
    let err = rig::case::find(&manifest().join("../testcases"), "no-such-case").unwrap_err().to_string();
    assert!(err.contains("no such test case") && err.contains("boot-smoke"), "{err}");
    let err = rig::case::find(Path::new("/nonexistent"), "/nonexistent/x.yaml").unwrap_err().to_string();
    assert!(err.starts_with("/nonexistent/x.yaml: no such test case"), "{err}");
}

#[test]
fn a_good_case_reads_every_step_kind() {
    let text = r#"
name: all-kinds
description: every step kind once
guest: { image: linux, vendor: amd, nested: true, memory_mib: 768, vcpus: 2, kernel_args: [panic_on_oops=1] }
iterations: 3
deadlines: { boot_secs: 60, iteration_secs: 90, run_secs: 600 }
expect: { outcome: panic, title: "kernel BUG in vmm_zsd_destroy", function: zsd_apply_destroy, message: "BUG", hang: pass }
setup:
  - ssh: modprobe kvm_amd
steps:
  - check_cpu: true
  - ssh: "exit 3"
    expect_status: 3
  - ssh: "false"
    ignore_status: true
    timeout_secs: 5
  - qmp: { execute: human-monitor-command, arguments: { command-line: "info status" } }
  - wait_console: "RIG-READY"
  - sleep: { min_ms: 1, max_ms: 2 }
  - background:
      steps:
        - reload_module: vmm
  - race:
      offset_ms: { min_ms: 0, max_ms: 100 }
      branches:
        - - reload_module: kvm_amd
        - - reboot: ssh
  - repeat: { times: 2, steps: [ { reboot: qmp } ] }
  - wait_boot: true
"#;
    let c = rig::case::parse(text).unwrap_or_else(|(l, col, m)| panic!("{l}:{col}: {m}"));
    assert_eq!(c.steps.len(), 10);
    assert_eq!(c.iterations, 3);
    use rig::case::StepKind::*;
    assert!(matches!(&c.steps[1].kind, Ssh { expect_status: Some(3), .. }));
    assert!(matches!(&c.steps[2].kind, Ssh { expect_status: None, .. }));
    assert_eq!(c.steps[2].timeout_secs, Some(5));
    assert!(
        matches!(&c.steps[3].kind, Qmp { execute, arguments } if execute == "human-monitor-command" && arguments["command-line"] == "info status")
    );
    assert!(matches!(&c.steps[7].kind, Race(r) if r.branches.len() == 2 && r.offset_ms.max_ms == 100));
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-case-parse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_case_path_that_is_no_file_says_what_it_is() {
    let d = scratch("kinds");
    let dir = d.join("a-dir.yaml");
    std::fs::create_dir_all(&dir).unwrap();
    let err = rig::case::find(&d, dir.as_os_str()).unwrap_err().to_string();
    assert!(err.contains("is a directory, not a regular file") && !err.contains("no such"), "{err}");
    let fifo = d.join("a-fifo.yaml");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Refused before it is opened: opening a FIFO would wait for a writer forever.
    let err = rig::case::find(&d, fifo.as_os_str()).unwrap_err().to_string();
    assert!(err.contains("is a FIFO (named pipe), not a regular file"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_huge_case_file_is_refused_before_it_is_read() {
    let d = scratch("huge");
    let file = d.join("huge.yaml");
    let mut text = String::from("name: x\nsteps:\n");
    while text.len() <= rig::case::load::MAX_FILE_BYTES as usize {
        text.push_str("  - ssh: \"true\"\n");
    }
    std::fs::write(&file, &text).unwrap();
    let began = std::time::Instant::now();
    let err = rig::case::load(&file).unwrap_err().to_string();
    assert!(err.contains(&format!("is {} bytes; a case file may be at most 1 MiB", text.len())), "{err}");
    assert!(began.elapsed() < std::time::Duration::from_secs(2), "{:?}", began.elapsed());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_case_at_a_path_that_is_not_utf8_loads() {
    use std::os::unix::ffi::OsStrExt;
    let d = scratch("non-utf8");
    let file = d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.yaml"));
    std::fs::write(&file, "name: latin1\nsteps:\n  - ssh: \"true\"\n").unwrap();
    let c = rig::case::find(&d, file.as_os_str()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.case.name.as_str(), c.file.as_path()), ("latin1", file.as_path()));
    let _ = std::fs::remove_dir_all(&d);
}
