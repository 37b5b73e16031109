//! Sequential comparisons on real guests: the builds take turns and stop as soon as the verdict
//! is decided (or at the budget, saying what more it would need).

mod common;

use rig::engine::campaign::{self, Plan};
use rig::engine::gate::Budget;
use rig::machine::{Accel, cpu};
use rig::results::StopReason;
use rig::results::compare::Status;

fn miniature() -> rig::case::LoadedCase {
    rig::case::find(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "os-7410-miniature")
        .unwrap()
}

fn plan(cases: Vec<rig::case::LoadedCase>, label: &str, budget: Budget) -> (Plan, std::path::PathBuf) {
    common::image();
    let run_dir = common::evidence_dir(label);
    let plan = Plan {
        seed: 13,
        jobs: 2,
        budget,
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(cases, vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    (plan, run_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miniature_comparison_stops_as_soon_as_the_fixed_build_is_decided() {
    // A budget of 20: room for a loaded host, where the debug build misses now and then.
    let (plan, run_dir) = plan(vec![miniature()], "sequential-fixed", Budget { iterations: Some(20), secs: None });
    let r = campaign::run(&plan, &mut |_| {}).await;
    let cmp = &r.comparisons[0];
    let (debug, fixed) = (&cmp.builds[0], &cmp.builds[1]);
    let k = &cmp.conclusions[0];
    let evidence = format!("{cmp:#?}\nevidence: {}", run_dir.display());
    assert_eq!(k.status, Status::Fixed, "{evidence}");
    assert!(k.text.contains("decided sequentially"), "{evidence}");
    // Both builds stopped at the decision, below the budget of 20: they take turns, but
    // each may have had up to --jobs (2) more iterations under way when it came.
    let fixed_run = r.runs.iter().find(|x| x.image == "linux-os7410-fixed").unwrap();
    let n = match &fixed_run.stopped {
        Some(StopReason::Decided { iterations }) => *iterations,
        why => panic!("the fixed build stopped for another reason: {why:?}\n{evidence}"),
    };
    assert!(n >= 4 && fixed.iterations >= n && fixed.iterations <= n + 2, "{evidence}");
    assert!(debug.iterations >= n && debug.iterations <= n + 2, "{evidence}");
    assert!(debug.hits >= 4, "{evidence}");
    assert!(fixed.verdict_line().contains("stopped: decided after"), "{evidence}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_that_still_hits_stops_at_its_first_hit() {
    // The debug build against itself: the candidate's first OS-7410 panic ends it.
    let mut c = miniature();
    c.case.compare = vec!["linux-os7410-debug".into(), "linux-os7410-debug".into()];
    let (plan, run_dir) = plan(vec![c], "sequential-not-fixed", rig::engine::gate::DEFAULT_BUDGET);
    let r = campaign::run(&plan, &mut |_| {}).await;
    let cmp = &r.comparisons[0];
    let evidence = format!("{cmp:#?}\nevidence: {}", run_dir.display());
    assert_eq!(cmp.conclusions[0].status, Status::NotFixed, "{evidence}");
    let cand = &r.runs[1];
    let first_hit = cand.iterations.iter().find(|i| matches!(i.outcome, rig::results::Outcome::Panic { .. })).unwrap();
    assert_eq!(cand.stopped, Some(StopReason::DecidedAtHit { iteration: first_hit.index }), "{evidence}");
    assert_eq!(cand.iterations.iter().map(|i| i.index).max(), Some(first_hit.index), "{evidence}");
    assert!(cand.iterations.len() < 10, "{evidence}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_at_its_budget_is_inconclusive_and_says_why() {
    // A hunted signature no build hits: the budget of 3 ends both builds.
    let c = common::case(
        "never-hits",
        "name: never-hits\nguest: { image: linux-os7410-fixed }\ncompare: [linux-os7410-fixed, linux]\n\
         hunts: { title: kernel BUG in vmm_zsd_destroy }\nsteps:\n  - ssh: 'true'\n",
    );
    let (plan, run_dir) = plan(vec![c], "sequential-budget", Budget { iterations: Some(3), secs: None });
    let r = campaign::run(&plan, &mut |_| {}).await;
    let cmp = &r.comparisons[0];
    let evidence = format!("{cmp:#?}\nevidence: {}", run_dir.display());
    let k = &cmp.conclusions[0];
    assert_eq!(k.status, Status::Inconclusive, "{evidence}");
    assert!(
        k.text.starts_with("inconclusive after 3 iterations per build (stopped: budget: 3 iterations)"),
        "{evidence}"
    );
    assert!(k.text.contains("has not reproduced in 3 iterations"), "{evidence}");
    assert_eq!((cmp.builds[0].iterations, cmp.builds[1].iterations), (3, 3), "{evidence}");
    assert_eq!(r.runs[1].stopped, Some(StopReason::Budget { iterations: 3 }), "{evidence}");
    assert!(rig::report::table::render(&r).contains("stopped: budget: 3 iterations"), "{evidence}");
}
