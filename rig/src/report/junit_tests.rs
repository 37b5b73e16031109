//! Tests of the JUnit writer: identities reporters keep, messages they show, and the schema.

use super::*;
use crate::results::fixture;
use crate::results::model::{CaseRun, IterationResult};

fn iteration(index: u32, panic: bool, run_dir: &str) -> IterationResult {
    let mut outcome = if panic { fixture::panic("kernel BUG in vmm_zsd_destroy") } else { Outcome::Completed };
    if let Outcome::Panic { excerpt, .. } = &mut outcome {
        *excerpt = "kernel BUG at vmm.c:120!".into();
    }
    IterationResult { secs: 2.5, evidence: format!("{run_dir}/c-epyc-{index}"), ..fixture::iteration(index, outcome) }
}

fn run(image: &str, panics: &[bool], run_dir: &str) -> CaseRun {
    let mut r = fixture::case_run(image, (1..).zip(panics).map(|(i, &p)| iteration(i, p, run_dir)).collect());
    r.compared = true;
    r
}

/// A comparison of a buggy and a fixed build, plus a case that was skipped.
fn comparison_report() -> RunReport {
    let dir = "build/runs/20261203T140000Z-rig";
    let (debug, fixed) = (run("linux-os7410-debug", &[true, false, true], dir), run("linux", &[false; 3], dir));
    let comparisons = vec![crate::results::compare::compare(&[&debug, &fixed], None)];
    let mut skipped = run("linux", &[], dir);
    (skipped.case, skipped.compared) = ("boot-smoke".into(), false);
    skipped.not_run = Some(Outcome::Skipped { reason: "--cpu host needs KVM".into() });
    RunReport {
        schema: crate::results::model::SCHEMA,
        accel: "tcg".into(),
        seed: 1,
        run_dir: dir.into(),
        shard: None,
        stopped_early: None,
        finished: true,
        evidence_errors: vec![],
        runs: vec![debug, fixed, skipped],
        comparisons,
        bisection: None,
        provenance: crate::results::provenance::Provenance {
            started: "2026-12-03T14:00:00Z".into(),
            ended: "2026-12-03T14:02:30Z".into(),
            host: "ci-7".into(),
            ..Default::default()
        },
    }
}

/// Every `name="..."` value (attribute `attr`) of the elements `<tag `, in order.
fn attrs(xml: &str, tag: &str, attr: &str) -> Vec<String> {
    let re = regex::Regex::new(&format!(r#"<{tag} [^>]*\b{attr}="([^"]*)""#)).unwrap();
    re.captures_iter(xml).map(|c| c[1].to_string()).collect()
}

#[test]
fn escapes_markup_and_control_bytes() {
    assert_eq!(escape("a<b & \"c\"\u{1b}"), "a&lt;b &amp; &quot;c&quot;?");
}

#[test]
fn the_builds_of_a_comparison_never_share_an_identity() {
    let x = render(&comparison_report());
    let suites = attrs(&x, "testsuite", "name");
    let mut unique = suites.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), suites.len(), "{x}");
    assert!(suites.contains(&"c.epyc.linux-os7410-debug".to_string()) && suites.contains(&"c.epyc.linux".to_string()));
    let pairs: Vec<String> = attrs(&x, "testcase", "classname")
        .into_iter()
        .zip(attrs(&x, "testcase", "name"))
        .map(|(c, n)| format!("{c}/{n}"))
        .collect();
    let mut unique = pairs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), pairs.len(), "{x}");
}

#[test]
fn a_failure_says_the_crash_title_and_the_outcome() {
    let x = render(&comparison_report());
    assert!(x.contains("<failure message=\"kernel BUG in vmm_zsd_destroy\" type=\"panic\">panic: kernel BUG"), "{x}");
    assert!(!x.contains("message=\"panic\""), "{x}");
    // The evidence path is relative to the run directory, where junit.xml is.
    assert!(x.contains("evidence: c-epyc-1</failure>"), "{x}");
}

/// Every path inside the run directory is written relative to it: the evidence, a dump, the
/// command that opens it; no path of the machine that ran it remains.
#[test]
fn paths_inside_the_run_are_relative() {
    let mut r = comparison_report();
    let dir = r.run_dir.clone();
    if let Outcome::Panic { triage, .. } = &mut r.runs[0].iterations[0].outcome {
        *triage = format!("open the dump:\n  $ crash {dir}/vmlinux {dir}/c-epyc-1/iteration-1/vmcore.kdump");
    }
    r.runs[0].iterations[1].outcome = Outcome::Hang {
        awaited: "step 1".into(),
        tail: String::new(),
        evidence: Some(Box::new(crate::dump::HangEvidence {
            dump: Some(crate::dump::DumpInfo {
                // As recorded: the run directory's path and the dump's place in it.
                path: format!("{dir}/c-epyc-2/iteration-2/hang.kdump").into(),
                ..crate::dump::DumpInfo::not_taken(
                    "x".as_ref(),
                    crate::dump::DumpFormat::KdumpZlib,
                    "kept elsewhere".into(),
                )
            }),
            registers: String::new(),
            cpus: serde_json::Value::Null,
            console_tail: vec![],
            nmi: Default::default(),
            secs: 0.0,
            notes: vec![],
        })),
    };
    r.runs[0].iterations[1].verdict = Verdict::Fail;
    let x = render(&r);
    assert!(x.contains("$ crash vmlinux c-epyc-1/iteration-1/vmcore.kdump"), "{x}");
    assert!(x.contains("dump: dump c-epyc-2/iteration-2/hang.kdump not kept"), "{x}");
    assert!(!x.contains(&dir), "{x}");
    assert_eq!(relative_in("no path here", ""), "no path here");
}

#[test]
fn suites_and_the_whole_carry_times_timestamps_and_totals() {
    let x = render(&comparison_report());
    let head = x.lines().nth(1).unwrap();
    // 3 + 3 iterations, a skipped case, one comparison's conclusion (not fixed: it has no hunt).
    assert_eq!(
        head,
        "<testsuites name=\"rig\" tests=\"8\" failures=\"3\" errors=\"0\" skipped=\"1\" time=\"150.000\" \
         timestamp=\"2026-12-03T14:00:00\">"
    );
    assert!(x.contains(
        "<testsuite name=\"c.epyc.linux-os7410-debug\" tests=\"3\" failures=\"2\" errors=\"0\" skipped=\"0\" \
         time=\"7.500\" timestamp=\"2026-12-03T14:00:00\" hostname=\"ci-7\">"
    ));
    assert_eq!(attrs(&x, "testsuite", "time").len(), attrs(&x, "testsuite", "name").len(), "{x}");
    assert_eq!(attrs(&x, "testcase", "time").len(), attrs(&x, "testcase", "name").len(), "{x}");
}

/// Validates `xml` against `rig/testdata/junit/junit.xsd` with `xmllint` (Debian's
/// `libxml2-utils`, which `cargo xtask test` installs); its complaint on failure.
fn schema_check(xml: &str, label: &str) -> Result<(), String> {
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/junit/junit.xsd");
    let file = std::env::temp_dir().join(format!("rig-junit-{label}-{}.xml", std::process::id()));
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("running xmllint (install libxml2-utils, as cargo xtask test does)");
    let _ = std::fs::remove_file(&file);
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[test]
fn the_output_is_valid_against_the_reporters_schema() {
    let mut unfinished = comparison_report();
    unfinished.finished = false;
    unfinished.stopped_early = Some(crate::results::StopReason::from("interrupted (Ctrl-C or SIGTERM)".to_string()));
    unfinished.runs[1].iterations.truncate(1);
    unfinished.runs[1].retally();
    let mut old = comparison_report();
    old.provenance = Default::default();
    old.runs[2].not_run = Some(Outcome::Infra { reason: "QEMU died".into() });
    for (label, r) in [("comparison", comparison_report()), ("unfinished", unfinished), ("old", old)] {
        let x = render(&r);
        if let Err(e) = schema_check(&x, label) {
            panic!("{label}: {e}\n{x}");
        }
    }
    // The check can fail: a testcase without its time is refused.
    let bad = render(&comparison_report()).replacen(" time=\"2.500\"", "", 1);
    assert!(schema_check(&bad, "bad").is_err());
}
