//! Bisection on real guests: the newest build must reproduce, the oldest must not, and the
//! probes in between find the first build that reproduces.

mod common;

use rig::engine::bisect::{self, End, Verdict};
use rig::engine::campaign::Plan;
use rig::machine::{Accel, cpu};

fn miniature() -> rig::case::LoadedCase {
    rig::case::find(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "os-7410-miniature")
        .unwrap()
}

fn plan(label: &str) -> (Plan, std::path::PathBuf) {
    common::image();
    let run_dir = common::evidence_dir(label);
    let plan = Plan {
        seed: 21,
        jobs: 2,
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(
            vec![miniature()],
            vec![cpu::lookup("epyc").unwrap()],
            Accel::Tcg,
            common::build_dir(),
            run_dir.clone(),
        )
    };
    (plan, run_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_builds_bisect_to_the_newest_after_checking_both_ends() {
    let (plan, run_dir) = plan("bisect-two");
    let builds = ["linux-os7410-fixed".to_string(), "linux-os7410-debug".to_string()];
    let (b, reports) = bisect::run(&plan, &builds, &mut |_| {}).await;
    let evidence = format!("{b:#?}\nevidence: {}", run_dir.display());
    assert_eq!(b.status, End::Found, "{evidence}");
    assert_eq!(b.first_bad.as_deref(), Some("linux-os7410-debug"), "{evidence}");
    // The newest first (until its first hit), then the oldest as a sequential comparison.
    let probed: Vec<(&str, Verdict)> = b.probes.iter().map(|p| (p.build.as_str(), p.verdict)).collect();
    assert_eq!(probed, [("linux-os7410-debug", Verdict::Bad), ("linux-os7410-fixed", Verdict::Good)], "{evidence}");
    // With two guests at once, both may have hit before the first hit stopped the probe.
    assert!(b.probes[0].hits >= 1 && b.probes[0].iterations <= 2, "{evidence}");
    assert!(b.answer.contains("is good with at least 95% confidence"), "{evidence}");
    assert_eq!(reports.len(), 2);
    for p in &b.probes {
        assert!(std::path::Path::new(&p.run_dir).join("report.json").exists(), "{evidence}");
    }
    assert_eq!(b.exit_code(), 0);
}
