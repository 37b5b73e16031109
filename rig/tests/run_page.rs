//! The run page (`index.html`) of a real small run, read back by a real browser (Chromium's
//! headless shell from Debian): what a person sees is there (the verdicts, the panic's title
//! and marked console lines, the evidence links, and they lead to files; the header; no machine
//! path), and a screenshot is kept in the run directory.

mod common;

use std::path::Path;
use std::process::Command;

use common::case;
use rig::engine::campaign::{self, Plan};
use rig::machine::{Accel, cpu};

const BROWSER: &str = "chromium-headless-shell";

/// Runs the headless browser on the page with `args`; returns its stdout.
fn browse(page: &Path, args: &[&str]) -> String {
    let out = Command::new(BROWSER)
        .args(["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("{BROWSER} is missing ({e}): `cargo xtask test` installs it (apt-get install {BROWSER})")
        });
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_page_shows_verdicts_the_panic_and_working_links() {
    common::image();
    // boot-smoke of the default set, and a case whose iteration panics as it expects.
    let smoke =
        rig::case::find(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "boot-smoke")
            .unwrap();
    let panics = case(
        "page-panic",
        "name: page-panic\nexpect: { outcome: panic }\nsteps:\n  - ssh: echo c > /proc/sysrq-trigger\n    ignore_status: true\n",
    );
    let run_dir = common::evidence_dir("run-page");
    let plan = Plan {
        seed: 2,
        jobs: 2,
        ..Plan::new(
            vec![smoke, panics],
            vec![cpu::lookup("epyc").unwrap()],
            Accel::Tcg,
            common::build_dir(),
            run_dir.clone(),
        )
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    let page = std::fs::canonicalize(run_dir.join("index.html")).expect("the run wrote index.html");

    let dom = browse(&page, &["--dump-dom"]);
    assert!(dom.contains("rig: every expectation held (exit 0)"), "{dom}");
    assert!(dom.contains("boot-smoke") && dom.contains(">pass<"), "{dom}");
    assert!(dom.contains("sysrq triggered crash"), "the panic's title: {dom}");
    assert!(dom.contains("<mark>") && dom.contains("Kernel panic - not syncing"), "the marked panic line: {dom}");
    assert!(dom.contains("open the dump: <code>") || dom.contains("vmcore.kdump"), "{dom}");
    // The header says where and what ran and how to replay it; the page names no machine path.
    assert!(dom.contains("<th>QEMU</th><td>QEMU emulator version"), "{dom}");
    assert!(dom.contains("<th>kernels</th><td>linux: 6."), "{dom}");
    assert!(dom.contains("<code>cargo xtask rig --replay build/test-runs/"), "{dom}");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().display().to_string();
    assert!(!dom.contains(&workspace), "a machine path on the page: {dom}");
    // One block per signature, the timeline square leading to its occurrence.
    assert_eq!(dom.matches("<section class=\"crash\"").count(), 1, "{dom}");
    assert!(
        dom.contains("href=\"#it-page-panic-epyc-linux-1\"") && dom.contains("id=\"it-page-panic-epyc-linux-1\""),
        "{dom}"
    );
    // Every relative link leads to a file or directory of the run.
    let hrefs: Vec<&str> =
        dom.split("href=\"").skip(1).filter_map(|s| s.split('"').next()).filter(|h| !h.starts_with('#')).collect();
    assert!(hrefs.len() >= 6, "{hrefs:?}");
    for h in &hrefs {
        let target = if h.starts_with('/') { std::path::PathBuf::from(h) } else { run_dir.join(h) };
        assert!(target.exists(), "link {h} leads nowhere ({})", target.display());
    }

    let shot = run_dir.join("index.png");
    browse(&page, &[&format!("--screenshot={}", shot.display()), "--window-size=1280,1600"]);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
}
