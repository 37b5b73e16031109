//! The run page of a long run (no guest: a synthetic 200-iteration comparison whose debug build
//! hits two crash signatures most of the time) stays small and readable: one block per
//! signature with its counts, every occurrence and timeline square leading to its evidence,
//! no machine path, and in a real browser (Chromium's headless shell) no console line or
//! chart label cut off.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rig::crash::read_all;
use rig::guest_os::linux::LinuxDialect;
use rig::results::model::{CaseRun, IterationResult, Mode, RunReport, SCHEMA};
use rig::results::{Outcome, Verdict};

const ITERATIONS: u32 = 200;

/// A Linux oops as the console prints it: `?` frames, and a `Code:` line far wider than a page.
fn console(bug: &str, function: &str) -> String {
    let code: Vec<String> = (0..120).map(|k| format!("{:02x}", k * 7 % 256)).collect();
    let mut lines = vec![
        format!("[   10.100000] {bug}"),
        "[   10.100100] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI".to_string(),
        format!("[   10.100200] RIP: 0010:{function}+0x1a/0x30 [vmm]"),
        format!("[   10.100300] Code: {}", code.join(" ")),
    ];
    for r in ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R08", "R09", "R10", "R11", "R12"] {
        lines.push(format!("[   10.100400] {r}: ffff8880049d3c00 {r}: 0000000000000001 {r}: 0000000000000000"));
    }
    lines.push("[   10.100500] Call Trace:".into());
    lines.push("[   10.100500]  <TASK>".into());
    for f in ["zsd_apply_destroy+0x40/0x80 [zones]", "? srso_return_thunk+0x5/0x10", "zone_destroy+0x90/0x120"] {
        lines.push(format!("[   10.100600]  {f}"));
    }
    for k in 0..12 {
        lines.push(format!("[   10.100700]  ? stale_frame_{k}+0x5/0x10"));
    }
    lines.push("[   10.100800]  </TASK>".into());
    lines.push("[   10.100900] Kernel panic - not syncing: Fatal exception".into());
    lines.join("\n") + "\n"
}

/// A panic read off `text` by the Linux reader, as the engine records it.
fn panic(text: &str) -> Outcome {
    let report = read_all(&LinuxDialect, text.as_bytes()).into_iter().next().expect("a crash report");
    Outcome::Panic {
        title: report.title.clone(),
        excerpt: text.into(),
        report: Some(report),
        dumps: vec![],
        triage: String::new(),
    }
}

/// `image`'s 200 iterations under `run_dir`, each outcome chosen by `pick(index)`, with the
/// files the page links to.
fn build(run_dir: &Path, image: &str, pick: impl Fn(u32) -> Outcome) -> CaseRun {
    let session = run_dir.join(format!("c_epyc_{image}/boot-1"));
    std::fs::create_dir_all(&session).unwrap();
    for f in ["ttyS0.log", "qmp.log", "qemu.cmdline"] {
        std::fs::write(session.join(f), "").unwrap();
    }
    let iterations: Vec<IterationResult> = (1..=ITERATIONS)
        .map(|index| {
            let outcome = pick(index);
            if let Outcome::Panic { .. } = outcome {
                let dir = session.join(format!("iteration-{index}"));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("triage.txt"), "").unwrap();
            }
            let verdict = if matches!(outcome, Outcome::Completed) { Verdict::Pass } else { Verdict::Fail };
            IterationResult {
                index,
                outcome,
                verdict,
                secs: 4.0,
                seed: u64::from(index),
                evidence: session.display().to_string(),
                steps: vec![],
                reloads: Default::default(),
            }
        })
        .collect();
    let mut run = CaseRun {
        case: "c".into(),
        file: "c.yaml".into(),
        cpu: "epyc".into(),
        image: image.into(),
        iterations_planned: ITERATIONS,
        sequential: false,
        assigned: (1..=ITERATIONS).collect(),
        hunts: None,
        compared: true,
        mode: Mode::Boot,
        stopped: None,
        not_run: None,
        iterations,
        tally: Default::default(),
    };
    run.retally();
    run
}

/// The synthetic run, written into a fresh run directory; the directory and the page.
fn synthetic() -> (PathBuf, String) {
    let run_dir = std::fs::canonicalize(common::evidence_dir("run-page-crashes")).unwrap();
    let (a, b) = (
        panic(&console("kernel BUG at drivers/vmm/vmm_zsd.c:120!", "vmm_zsd_destroy")),
        panic(&console("kernel BUG at kernel/zone.c:88!", "zone_destroy")),
    );
    // debug: every 25th completes, the other 10ths hit b, the rest a; fixed: every 40th hits b.
    let debug = build(&run_dir, "linux-os7410-debug", |i| match i {
        _ if i % 25 == 0 => Outcome::Completed,
        _ if i % 10 == 0 => b.clone(),
        _ => a.clone(),
    });
    let fixed = build(&run_dir, "linux", |i| if i % 40 == 0 { b.clone() } else { Outcome::Completed });
    let comparisons = vec![rig::results::compare::compare(&[&debug, &fixed], None)];
    let report = RunReport {
        schema: SCHEMA,
        accel: "tcg".into(),
        seed: 7,
        run_dir: run_dir.display().to_string(),
        shard: None,
        stopped_early: None,
        finished: true,
        evidence_errors: vec![],
        runs: vec![debug, fixed],
        comparisons,
        bisection: None,
        provenance: Default::default(),
    };
    rig::report::write(&run_dir, &report).unwrap();
    let page = std::fs::read_to_string(run_dir.join("index.html")).unwrap();
    (run_dir, page)
}

#[test]
fn a_long_run_has_one_small_block_per_crash_signature() {
    let (run_dir, page) = synthetic();
    // 196 failing iterations with a 2 kB excerpt each: a section per iteration would be ~450 kB.
    let excerpt = console("kernel BUG at drivers/vmm/vmm_zsd.c:120!", "vmm_zsd_destroy").len();
    const BOUND: usize = 150_000;
    assert!(196 * excerpt > 2 * BOUND, "the bound must be able to fail: {excerpt}");
    assert!(page.len() < BOUND, "the page is {} bytes", page.len());

    assert_eq!(page.matches("<section class=\"crash\"").count(), 2, "{page}");
    assert_eq!(page.matches("<pre class=\"excerpt\">").count(), 2, "one sample per signature");
    // a: debug's 176; b: debug's 16 (10..190, not 50, 100, 150, 200) and fixed's 5 (40..200).
    for row in [
        "<td>linux-os7410-debug</td><td>176 of 200</td><td>1</td><td>199</td>",
        "<td>linux-os7410-debug</td><td>16 of 200</td><td>10</td><td>190</td>",
        "<td>linux</td><td>5 of 200</td><td>40</td><td>200</td>",
    ] {
        assert!(page.contains(row), "{row}");
    }
    assert!(page.contains("<span class=\"unreliable\">? srso_return_thunk</span>"), "greyed ? frames");
    // Every failing square leads to its occurrence on the page; every link to a file of the run.
    let ids: Vec<&str> = page.split(" id=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    let hrefs: Vec<&str> = page.split("href=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    assert_eq!(hrefs.iter().filter(|h| h.starts_with("#it-")).count(), 176 + 16 + 5);
    for h in &hrefs {
        match h.strip_prefix('#') {
            Some(id) => assert!(ids.contains(&id), "no {id} on the page"),
            None => assert!(run_dir.join(h).exists(), "link {h} leads nowhere"),
        }
    }
    let workspace = run_dir.ancestors().find(|d| d.ends_with("build")).unwrap().parent().unwrap();
    assert!(!page.contains(&workspace.display().to_string()), "a machine path on the page");
}

/// The same run's `junit.xml`: valid against the reporters' schema (`xmllint`, which `cargo
/// xtask test` installs), every testcase's identity unique across the two builds, the
/// failures titled with their crash and naming no machine path.
#[test]
fn its_junit_keeps_every_iteration_of_both_builds() {
    let (run_dir, _) = synthetic();
    let junit = run_dir.join("junit.xml");
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/junit/junit.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .args([&xsd, &junit])
        .output()
        .expect("running xmllint (install libxml2-utils, as cargo xtask test does)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let x = std::fs::read_to_string(&junit).unwrap();
    let re = regex::Regex::new(r#"<testcase classname="([^"]*)" name="([^"]*)""#).unwrap();
    let ids: std::collections::HashSet<String> = re.captures_iter(&x).map(|c| format!("{}/{}", &c[1], &c[2])).collect();
    assert_eq!(ids.len(), 2 * ITERATIONS as usize + 1, "every iteration of both builds and the conclusion");
    assert_eq!(x.matches("<failure message=\"kernel BUG in vmm_zsd_destroy\" type=\"panic\">").count(), 176);
    let workspace = run_dir.ancestors().find(|d| d.ends_with("build")).unwrap().parent().unwrap();
    assert!(!x.contains(&workspace.display().to_string()), "a machine path in junit.xml");
}

/// The page with a script that measures, in the browser, what is cut off: a console excerpt
/// wider than its box, a chart label past its chart's edge.
const MEASURE: &str = "<script>let cut=[];for(const p of document.querySelectorAll('pre'))\
if(p.scrollWidth>p.clientWidth+1)cut.push('pre:'+p.textContent.slice(0,40));\
for(const t of document.querySelectorAll('svg.chart text')){const s=t.ownerSVGElement;const b=t.getBBox();\
if(b.x+b.width>s.width.baseVal.value+1)cut.push('label:'+t.textContent)}\
if(document.documentElement.scrollWidth>innerWidth)cut.push('page:'+document.documentElement.scrollWidth);\
document.body.insertAdjacentHTML('beforeend','<p id=measured>cut: '+cut.join(' | ')+'.</p>')</script>";

#[test]
fn in_a_browser_nothing_is_cut_off() {
    let (run_dir, page) = synthetic();
    let measured = run_dir.join("measured.html");
    std::fs::write(&measured, page.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    const BROWSER: &str = "chromium-headless-shell";
    let out = Command::new(BROWSER)
        .args(["--no-sandbox", "--disable-gpu", "--window-size=1280,1600", "--dump-dom"])
        .arg(format!("file://{}", measured.display()))
        .output()
        .unwrap_or_else(|e| panic!("{BROWSER} is missing ({e}): `cargo xtask test` installs it"));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<p id=\"measured\">cut: .</p>"), "{}", dom.split("id=\"measured\"").nth(1).unwrap_or(&dom));
}
