//! `cargo xtask reproduce` through the real binary, no guests: bad input is exit 2 with what
//! to give, the seed's own text lists the coal case and the miniature with their images, and a
//! crash no case hunts gets a draft (exit 4) that loads as a case.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rig-reproduce-cmd-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn reproduce(args: &[&std::ffi::OsStr], runs: &Path) -> (Option<i32>, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("reproduce")
        .args(args)
        .arg("--runs-dir")
        .arg(runs)
        .output()
        .expect("starting the rig");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn bad_input_is_exit_2_with_what_to_give_and_starts_nothing() {
    let dir = scratch("bad");
    let runs = dir.join("runs");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n  \n").unwrap();
    let noise = root().join("rig/testdata/illumos/boot-noise-no-crash");
    let seed = root().join("docs/OS-7410.txt");
    let missing = dir.join("nonesuch.txt");
    let cases: [(Vec<&std::ffi::OsStr>, &str); 5] = [
        (vec![missing.as_os_str()], "does not exist"),
        (vec![empty.as_os_str()], "the text is empty"),
        (vec![noise.as_os_str()], "no panic found"),
        (vec![dir.as_os_str()], "is a directory"),
        (vec![seed.as_os_str(), "--case".as_ref(), "boot-smoke".as_ref()], "does not hunt this crash"),
    ];
    for (args, want) in cases {
        let (code, stdout, stderr) = reproduce(&args, &runs);
        assert_eq!(code, Some(2), "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains(want), "{args:?}: wanted '{want}' in:\n{stderr}");
    }
    assert!(!runs.exists(), "bad input made a run directory");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_seed_lists_the_coal_case_first_and_the_miniature_with_their_images() {
    let dir = scratch("seed");
    let seed = root().join("docs/OS-7410.txt");
    let (code, stdout, stderr) = reproduce(&[seed.as_os_str(), "--list".as_ref()], &dir);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.starts_with("crash: assertion failed: !zsd->vz_active in vmm_zsd_destroy (read as illumos)"),
        "{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("needs image")).collect();
    assert!(lines[0].contains("os-7410-vmm-zsd") && lines[0].contains("needs image coal"), "{stdout}");
    let mini = lines.iter().find(|l| l.contains("os-7410-miniature")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(mini.contains("needs image linux-os7410-debug"), "{mini}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_crash_no_case_hunts_gets_a_draft_that_loads_and_exit_4() {
    let dir = scratch("draft");
    let text = root().join("rig/testdata/real/openzfs-12047-console-assertion.txt");
    let (code, stdout, stderr) = reproduce(&[text.as_os_str()], &dir);
    assert_eq!(code, Some(4), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("a DRAFT case"), "{stdout}");
    let path = stdout.lines().find_map(|l| l.strip_prefix("draft: ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(Path::new(path).starts_with(&dir), "the draft is in the run directory: {path}");
    let c = rig::case::load(Path::new(path)).unwrap_or_else(|e| panic!("{e}")).case;
    assert_eq!(
        c.hunts.unwrap().title.as_deref(),
        Some("assertion failed: HDR_EMPTY_OR_LOCKED(hdr) in arc_hdr_decrypt")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_window_search_on_a_case_that_marks_no_timing_is_bad_input() {
    let dir = scratch("no-explore");
    let seed = root().join("docs/OS-7410.txt");
    let args =
        [seed.as_os_str(), "--case".as_ref(), "os-7410-miniature".as_ref(), "--search-window".as_ref(), "4".as_ref()];
    let (code, stdout, stderr) = reproduce(&args, &dir);
    assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("the case 'os-7410-miniature' marks no timing `explore:`"), "{stderr}");
    assert!(!stdout.contains("rig: "), "no guest started:\n{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}
