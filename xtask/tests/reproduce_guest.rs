//! `cargo xtask reproduce` end to end on real guests: the seed's own report reproduces on the
//! Linux miniature (exit 0), and a crash no case hunts, run with `--try-draft` for one
//! iteration, is not reproduced and says the rate that rules out (exit 1).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn reproduce(name: &str, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let runs = std::env::temp_dir().join(format!("rig-reproduce-guest-{name}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("reproduce")
        .args(args)
        .args(["--seed", "29", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let text = format!("{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&runs);
    (out.status.code(), text)
}

#[test]
fn the_seeds_report_reproduces_on_the_miniature() {
    let seed = root().join("../shared/seed/OS-7410.txt");
    let (code, out) = reproduce("seed", &[seed.as_os_str(), "--case".as_ref(), "os-7410-miniature".as_ref()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("REPRODUCED: 'kernel BUG in vmm_zsd_destroy' in iteration "), "{out}");
    assert!(out.contains("of os-7410-miniature on linux-os7410-debug"), "{out}");
}

#[test]
fn a_draft_tried_for_one_iteration_is_not_reproduced_and_says_the_rate_ruled_out() {
    let text = root().join("rig/testdata/real/fedora-coreos-1308-null-deref-irq.txt");
    let args = [text.as_os_str(), "--try-draft".as_ref(), "--max-iterations".as_ref(), "1".as_ref()];
    let (code, out) = reproduce("draft", &args);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("a DRAFT case"), "{out}");
    assert!(
        out.contains(
            "NOT REPRODUCED in 1 iterations (0 ended another way): a hit rate above 95.0% is ruled out at 95%"
        ),
        "{out}"
    );
}
