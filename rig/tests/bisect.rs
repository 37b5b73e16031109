//! Bisection on real guests: the newest build must reproduce, the oldest must not, and the
//! probes in between find the first build that reproduces.

mod common;

use rig::engine::bisect;
use rig::engine::campaign::Plan;
use rig::machine::{Accel, cpu};
use rig::results::bisection::{End, ProbeVerdict};

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
async fn the_os7410_series_bisects_to_its_first_bad_build() {
    let series = rig::guest_os::linux::image::recipe::OS7410_SERIES;
    let builds: Vec<String> = series.builds.iter().map(|b| b.to_string()).collect();
    let (plan, run_dir) = plan("bisect-series");
    let (b, reports) = bisect::run(&plan, &builds, &mut |_| {}).await;
    let evidence = format!(
        "{}
{b:#?}
evidence: {}",
        b.render(),
        run_dir.display()
    );
    assert_eq!(b.status, End::Found, "{evidence}");
    assert_eq!(b.first_bad.as_deref(), Some(series.first_bad), "{evidence}");
    // The newest first (until its first hit), then the oldest, then halving: b3, b4.
    let probed: Vec<(&str, ProbeVerdict)> = b.probes.iter().map(|p| (p.build.as_str(), p.verdict)).collect();
    assert_eq!(
        probed,
        [
            ("linux-os7410-b6", ProbeVerdict::Bad),
            ("linux-os7410-b1", ProbeVerdict::Good),
            ("linux-os7410-b3", ProbeVerdict::Good),
            ("linux-os7410-b4", ProbeVerdict::Bad)
        ],
        "{evidence}"
    );
    for p in &b.probes {
        assert_eq!(series.is_bad(&p.build), Some(p.verdict == ProbeVerdict::Bad), "{evidence}");
        assert!(std::path::Path::new(&p.run_dir).join("report.json").exists(), "{evidence}");
    }
    // The newest build ran until its first hit: with two guests at once, the other guest's
    // iteration may still end after it.
    let newest: rig::results::RunReport = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&b.probes[0].run_dir).join("report.json")).unwrap(),
    )
    .unwrap();
    let run = &newest.runs[0];
    let first_hit = run
        .iterations
        .iter()
        .find(|i| rig::results::compare::judged_hit(run.hunts.as_ref(), &i.outcome) == Some(true))
        .map(|i| i.index);
    assert!(b.probes[0].hits >= 1 && first_hit.is_some(), "{evidence}");
    assert!(b.probes[0].iterations <= first_hit.unwrap() + 1, "{evidence}");
    // The newest build's iterations are run once: each comparison's reference begins with all
    // the newest's iterations of the probes before it, and runs only what it needs beyond.
    let mut before = 0;
    let mut ran_newest = 0;
    for (p, r) in b.probes.iter().zip(&reports) {
        let reference = r.runs.iter().find(|run| run.image == "linux-os7410-b6").expect("the newest build's run");
        let fresh = reference.iterations.iter().filter(|i| i.evidence.starts_with(&p.run_dir)).count();
        assert_eq!(reference.iterations.len() - fresh, before, "{}: banked iterations\n{evidence}", p.build);
        before = reference.iterations.len();
        ran_newest += fresh;
    }
    assert!(ran_newest <= 8, "the newest build ran {ran_newest} iterations in all\n{evidence}");
    assert!(b.answer.contains("linux-os7410-b3, is good with at least 95% confidence"), "{evidence}");
    assert_eq!(reports.len(), 4);
    assert_eq!(b.exit_code(), 0);
    assert!(b.render().contains("=> first bad build: linux-os7410-b4"), "{evidence}");
}
