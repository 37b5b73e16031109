//! The OS-7410 bisection series on real guests (QEMU, TCG), through the engine: the last good
//! build (b3) survives the `os-7410-miniature` race, the first bad one (b4) panics with the
//! panic the case hunts. Both are `linux-os7410-debug`'s artifacts booted with another
//! `vmm.fixed=`, which this proves reaches the module.

mod common;

use rig::case::LoadedCase;
use rig::engine::campaign::{self, Plan};
use rig::guest_os::linux::image::recipe::OS7410_SERIES;
use rig::machine::{Accel, cpu};
use rig::results::CaseRun;
use rig::results::{Outcome, Verdict};

/// Iterations per build at most: b4 stops at its first hunted panic (the debug build panics in
/// at least 3 of 4 iterations, so 6 misses happen about once in 4000 runs); b3 runs them all.
const ITERATIONS: u32 = 6;

fn series_case() -> LoadedCase {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../testcases/{}.yaml", OS7410_SERIES.case));
    rig::case::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

/// The OS-7410 window hits the iterations' summary lines report (`window_hits=N`).
fn window_hits(run: &CaseRun) -> u32 {
    run.iterations
        .iter()
        .flat_map(|it| &it.steps)
        .filter_map(|s| s.result.split("window_hits=").nth(1))
        .map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse::<u32>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_survives_the_race_and_b4_hits_the_hunted_panic() {
    common::require_qemu();
    let (good, bad) = ("linux-os7410-b3", "linux-os7410-b4");
    assert_eq!((OS7410_SERIES.is_bad(good), OS7410_SERIES.is_bad(bad)), (Some(false), Some(true)));
    let case = series_case();
    let hunted = case.case.hunts.clone().expect("the series' case hunts a panic");
    let run_dir = common::evidence_dir("os7410-series");
    let plan = Plan {
        seed: 7,
        iterations: Some(ITERATIONS),
        compare: Some(vec![bad.to_string(), good.to_string()]),
        until_panic: Some(None),
        ..Plan::new(vec![case], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let report = campaign::run(&plan, &mut |_| {}).await;
    let run = |image: &str| {
        report.runs.iter().find(|r| r.image == image).unwrap_or_else(|| panic!("no run on {image}: {report:#?}"))
    };

    // b4: the first bad build panics, as the case hunts it.
    let b4 = run(bad);
    let last = b4.iterations.last().unwrap_or_else(|| panic!("{b4:#?}"));
    match &last.outcome {
        Outcome::Panic { title, report, .. } => {
            assert_eq!(Some(title), hunted.title.as_ref(), "{b4:#?}");
            assert!(hunted.matches_panic(report.as_ref(), title), "{report:#?}");
        }
        other => panic!("{bad} did not panic in {ITERATIONS} iterations: {other:#?}\n{b4:#?}"),
    }
    assert_eq!(b4.tally.panics, 1, "{b4:#?}");

    // b3: the last good build survives every iteration, having gone through the window.
    let b3 = run(good);
    assert_eq!((b3.tally.ran, b3.tally.pass, b3.tally.panics), (ITERATIONS, ITERATIONS, 0), "{b3:#?}");
    assert!(b3.iterations.iter().all(|i| i.verdict == Verdict::Pass));
    assert!(b3.tally.reloads.reloads_ok > 0, "{:#?}", b3.tally.reloads);
    assert!(window_hits(b3) > 0, "{good} never went through the OS-7410 window: {b3:#?}");

    // Each ran its own image, with its own command line.
    for (image, arg) in [(good, "vmm.fixed=1"), (bad, "vmm.fixed=0")] {
        let evidence = std::path::Path::new(&run(image).iterations[0].evidence).to_path_buf();
        let cmdline = std::fs::read_to_string(evidence.join("qemu.cmdline")).unwrap();
        assert!(cmdline.contains(&format!("images/{image}-")), "{image}: {cmdline}");
        assert!(cmdline.contains(arg), "{image}: {cmdline}");
    }
}
