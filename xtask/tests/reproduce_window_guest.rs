//! The done-when of issue 29 on real guests: `cargo xtask reproduce` fed a console text saved
//! from a real panic of the timing-sensitive fixture (`os-7410-timed`, images/linux/README.md),
//! with the OS-7410 build series: it matches the case, narrows the window (its hit rate at
//! least 5 times the original ranges' rate, both measured in the run), bisects the series with
//! the narrowed case and names the first bad build, `linux-os7410-b4`, all within 15 minutes.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rig::reproduce::story::Story;

/// The whole reproduction's limit on this 2-core TCG host.
const LIMIT: Duration = Duration::from_secs(15 * 60);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn a_saved_panic_of_the_timed_fixture_is_matched_narrowed_and_bisected_to_b4() {
    let text = root().join("rig/testdata/reproduce/os7410-timed-panic.txt");
    let builds: Vec<String> = (1..=6).map(|i| format!("linux-os7410-b{i}")).collect();
    let runs = std::env::temp_dir().join(format!("rig-reproduce-timed-{}", std::process::id()));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("reproduce")
        .arg(&text)
        .args(["--case", "os-7410-timed", "--search-window", "24", "--bisect", &builds.join(",")])
        .args(["--seed", "29", "--runs-dir"])
        .arg(&runs)
        .output()
        .expect("starting the rig");
    let took = started.elapsed();
    let out = format!("{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        + &format!("\nexit: {:?}", out.status.code());
    assert!(out.contains("crash: kernel BUG in vmm_zsd_destroy (read as linux)"), "{out}");
    assert!(out.contains("chosen: os-7410-timed ("), "{out}");
    let story_file = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("report.json"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no story report.json under {}:\n{out}", runs.display()));
    let story: Story = serde_json::from_slice(&std::fs::read(&story_file).unwrap()).unwrap();
    let w = story.window.as_ref().unwrap_or_else(|| panic!("no window found:\n{out}"));
    assert!(w.rate.hits > 0 && w.original.iterations > 0, "{w:?}\n{out}");
    assert!(
        w.rate.rate() >= 5.0 * w.original.rate(),
        "the window's rate {} is not 5 times the original ranges' {}:\n{out}",
        w.rate,
        w.original
    );
    assert_eq!(story.first_bad.as_deref(), Some("linux-os7410-b4"), "{out}");
    assert!(out.contains("first bad build: linux-os7410-b4"), "{out}");
    assert!(took < LIMIT, "the reproduction took {took:?}, more than {LIMIT:?}:\n{out}");
    let _ = std::fs::remove_dir_all(&runs);
}
