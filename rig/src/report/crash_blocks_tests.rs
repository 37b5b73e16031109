//! Tests of the crash blocks: grouping by signature, greyed frames, evidence without machine paths.

use super::*;
use crate::crash::Frame;
use crate::results::fixture;

fn frame(function: &str, reliable: bool) -> Frame {
    Frame { function: function.into(), module: None, offset: Some(0x10), reliable }
}

/// Build `image` ran five iterations: 1, 2 and 5 panicked with `a`, 3 with `b`, 4 completed.
fn run(image: &str, a: &str, b: &str) -> CaseRun {
    let outcomes = [fixture::panic(a), fixture::panic(a), fixture::panic(b), Outcome::Completed, fixture::panic(a)];
    let its = (1..).zip(outcomes).map(|(i, o)| IterationResult {
        evidence: format!("/m/runs/r/c_epyc_{image}/boot-1"),
        ..fixture::iteration(i, o)
    });
    fixture::case_run(image, its.collect())
}

#[test]
fn iterations_are_grouped_by_signature_in_order_of_first_sight() {
    let mut r = fixture::report(vec![run("debug", "BUG in f", "BUG in g"), run("fixed", "BUG in g", "BUG in h")]);
    r.run_dir = "/m/runs/r".into();
    let gs = groups(&r);
    let seen: Vec<(&str, usize)> = gs.iter().map(|g| (g.signature.as_str(), g.occurrences.len())).collect();
    assert_eq!(seen, [("BUG in f", 3), ("BUG in g", 4), ("BUG in h", 1)]);
    let mut s = String::new();
    render(&mut s, &r);
    assert_eq!(s.matches("<section class=\"crash\"").count(), 3, "{s}");
    // `BUG in g`: once in debug (iteration 3), three times in fixed (1, 2 and 5).
    assert!(s.contains("<td>debug</td><td>1 of 5</td><td>3</td><td>3</td>"), "{s}");
    assert!(s.contains("<td>fixed</td><td>3 of 5</td><td>1</td><td>5</td>"), "{s}");
    // Every occurrence links to its iteration's evidence, relative to the run directory.
    assert!(s.contains("<a id=\"it-c-epyc-fixed-5\" href=\"c_epyc_fixed/boot-1/iteration-5\">5</a>"), "{s}");
    assert_eq!(s.matches("<a id=\"it-").count(), 8, "{s}");
    assert!(!s.contains("/m/runs"), "no machine path: {s}");
}

#[test]
fn unreliable_frames_are_greyed() {
    let frames = [frame("panic", true), frame("_printk", false), frame("sysrq_handle_crash", true)];
    assert_eq!(stack(&frames), "panic &larr; <span class=\"unreliable\">? _printk</span> &larr; sysrq_handle_crash");
}

#[test]
fn panic_lines_are_marked() {
    let m = marked(
        "[  1.0] sysrq: Trigger a crash\n[  1.1] Kernel panic - not syncing: sysrq <crash>\nend",
        &[&crate::guest_os::linux::LinuxDialect],
    );
    assert_eq!(
        m,
        "[  1.0] sysrq: Trigger a crash\n<mark>[  1.1] Kernel panic - not syncing: sysrq &lt;crash&gt;</mark>\nend"
    );
}
