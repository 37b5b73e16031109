//! `cargo xtask reproduce` end to end on real guests: the seed's own report reproduces on the
//! Linux miniature (exit 0), and a crash no case hunts, run with `--try-draft` for one
//! iteration, is not reproduced and says the rate that rules out (exit 1); `--search-window`
//! runs the miniature as it is and batches of it narrowed to sub-ranges of an `explore:` sleep,
//! and writes the case narrowed to the window found.

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
    let seed = root().join("docs/OS-7410.txt");
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

#[test]
fn the_window_search_runs_sub_ranges_in_batches_and_writes_the_narrowed_case() {
    let dir = std::env::temp_dir().join(format!("rig-reproduce-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mini = std::fs::read_to_string(root().join("testcases/os-7410-miniature.yaml")).unwrap();
    let plain = "        - sleep: { min_ms: 150, max_ms: 450 }";
    assert!(mini.contains(plain), "the miniature's reload loop sleep moved:\n{mini}");
    let explore = "        - sleep: { min_ms: 150, max_ms: 450, explore: { min_ms: 0, max_ms: 1200, split: 3 } }";
    let file = dir.join("mini-explore.yaml");
    std::fs::write(&file, mini.replace(plain, explore)).unwrap();
    let seed = root().join("docs/OS-7410.txt");
    let runs = dir.join("runs");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("reproduce")
        .arg(&seed)
        .arg("--case")
        .arg(&file)
        .args(["--search-window", "4", "--seed", "5", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let text = format!("{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!([Some(0), Some(1)].contains(&out.status.code()), "{text}");
    assert!(text.contains("over 0..1200 ms, 3 sub-ranges a level, 4 iterations a level (in batches of 2 chosen by Thompson sampling), up to 3 levels, and 8 of the case as it is"), "{text}");
    assert!(text.contains("the case as it is (150..450 ms): "), "the original ranges ran too:\n{text}");
    let table = text
        .split("window search over steps[0].background.steps[1].sleep, level 1 (0..1200 ms):")
        .nth(1)
        .and_then(|t| t.split("\n\n").next())
        .unwrap_or_else(|| panic!("{text}"));
    let tries: u32 =
        table.lines().filter_map(|l| l.split_whitespace().nth(2)?.split_once('/')?.1.parse::<u32>().ok()).sum();
    assert_eq!(tries, 4, "every iteration of level 1 went to a sub-range:\n{table}");
    let narrowed = text.lines().find_map(|l| l.split_once("narrowed case: ")).map(|(_, p)| p.trim());
    assert_eq!(out.status.code() == Some(0), narrowed.is_some(), "a window, and its case, only when one hit:\n{text}");
    if let Some(narrowed) = narrowed {
        let c = rig::case::load(std::path::Path::new(narrowed)).unwrap_or_else(|e| panic!("{e}")).case;
        assert!(rig::reproduce::window::knobs(&c).is_empty(), "the narrowed case searches nothing more");
        assert_eq!(c.name, "os-7410-miniature-window");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
