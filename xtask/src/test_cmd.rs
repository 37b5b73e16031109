//! `cargo xtask test`: the whole test suite, with its set-up. Installs the host prerequisites
//! (QEMU, as root on Debian/Ubuntu), builds the guest images once, then runs
//! the test binaries, so the tests that boot real guests find everything they need. The whole
//! suite runs in lanes side by side ([`crate::test_lanes`]); with arguments for cargo, it is
//! `cargo test --workspace` with them, one binary after another.

use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::{exit, paths};

/// Arguments of `cargo xtask test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Only the tests that boot no guest (parsers, crash readers, the layers, the CLI's
    /// refusals): a few minutes, for the edit loop. The whole suite is `cargo xtask test`.
    #[arg(long)]
    pub quick: bool,
    /// Lanes the whole suite runs in, side by side: one for the coal stand-in tests, the rest
    /// for the others (default: half the host's cores, 2 to 4). 1 runs one binary at a time.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub lanes: Option<u32>,
    /// Arguments passed on to `cargo test --workspace` (e.g. a test name filter; put `--` before
    /// test-binary flags).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
}

/// What only the tests need: the run page test reads `index.html` in a real (headless) browser;
/// the JUnit test checks `junit.xml` against the reporters' schema with `xmllint`.
const TEST_NEEDS: &[rig::host::prereqs::Need] = &[
    rig::host::prereqs::Need { program: "chromium-headless-shell", package: "chromium-headless-shell" },
    rig::host::prereqs::Need { program: "xmllint", package: "libxml2-utils" },
];

/// The test binaries that boot no guest, for `--quick` (with every library's and binary's
/// unit tests).
const QUICK: &[&str] = &[
    "case_parse",
    "coal_config",
    "coal_eras",
    "coal_image",
    "coal_replay",
    "crash_corpus",
    "crash_illumos",
    "crash_real",
    "crash_robustness",
    "layers",
    "exit_codes",
    "reproduce",
    "reproduce_cmd",
    "run_page_crashes",
    "window_search",
    "history",
    "triage_stream",
    "user_kernel_input",
    "workflow",
    "readme_commands",
];

/// Runs the suite; returns cargo's exit code.
pub fn run(a: &TestArgs) -> Result<i32> {
    if let Err(e) = rotate_test_runs(&paths::build_dir()) {
        eprintln!("error: {e:#}");
        return Ok(exit::INFRA);
    }
    if a.quick {
        // No QEMU nor images: only what the quick tests read with (xmllint, check-jsonschema).
        let log = paths::build_dir().join("host-setup.log");
        let needs = std::fs::create_dir_all(paths::build_dir())
            .map_err(anyhow::Error::from)
            .and_then(|()| rig::host::prereqs::ensure(TEST_NEEDS, &log));
        if let Err(e) = needs.and_then(|()| ensure_check_jsonschema()) {
            eprintln!("error: {e:#}");
            return Ok(exit::INFRA);
        }
        let mut args: Vec<String> = vec!["--lib".into(), "--bins".into()];
        for t in QUICK {
            args.extend(["--test".to_string(), t.to_string()]);
        }
        args.extend(a.cargo_args.iter().cloned());
        return cargo_test(&args);
    }
    if let Err(e) = rig::setup::ensure_host(&paths::build_dir(), TEST_NEEDS) {
        eprintln!("error: {e:#}");
        return Ok(exit::INFRA);
    }
    if let Err(e) = ensure_check_jsonschema() {
        eprintln!("error: {e:#}");
        return Ok(exit::INFRA);
    }
    let lanes = a.lanes.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        (cores / 2).clamp(2, 4)
    });
    if !a.cargo_args.is_empty() || lanes == 1 {
        build_images()?;
        return cargo_test(&a.cargo_args);
    }
    // The test binaries compile while the images build: a fresh clone spends minutes on each,
    // and the image builds wait on downloads and disks as much as on the cores.
    let workspace = paths::workspace();
    let compiled = std::thread::spawn(move || crate::test_lanes::build(&workspace));
    let images = build_images();
    let bins = compiled.join().map_err(|_| anyhow::anyhow!("the test build's thread panicked"))?;
    images?;
    match bins {
        Ok(bins) => in_lanes(bins, lanes as usize),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(101)
        }
    }
}

/// Keeps the tests' evidence of this run and the one before, no more: each suite run writes
/// gigabytes under `build/test-runs` (consoles, dumps, snapshots), and a disk that fills up
/// fails every later run. The previous run's evidence moves to `build/test-runs.previous`.
fn rotate_test_runs(build: &std::path::Path) -> Result<()> {
    let (current, previous) = (build.join("test-runs"), build.join("test-runs.previous"));
    if !current.exists() {
        return Ok(());
    }
    if previous.exists() {
        std::fs::remove_dir_all(&previous).with_context(|| format!("removing {}", previous.display()))?;
    }
    std::fs::rename(&current, &previous)
        .with_context(|| format!("moving {} to {}", current.display(), previous.display()))?;
    eprintln!("rig-test: the last run's test evidence is now in {} (the one before it is removed)", previous.display());
    Ok(())
}

/// Builds every image the tests boot up front, so no test spends its time building one.
fn build_images() -> Result<()> {
    rig::guest_os::build_images(&paths::build_dir(), &|line| eprintln!("rig: {line}"))
}

/// The whole suite's `bins` in `lanes` lanes, side by side.
fn in_lanes(bins: Vec<crate::test_lanes::TestBinary>, lanes: usize) -> Result<i32> {
    let began = std::time::Instant::now();
    let heavy = crate::test_lanes::HEAVY.join(" and ");
    eprintln!("rig-test: {} test binaries in {lanes} lanes (one for {heavy})", bins.len());
    let (heavy, light) = crate::test_lanes::queues(bins);
    let times = std::sync::Mutex::new(crate::test_times::Times::default());
    let failed = crate::test_lanes::run(heavy, light, lanes - 1, |text| {
        let mut times = times.lock().unwrap();
        let mut out = std::io::stdout().lock();
        let _ = std::io::Write::write_all(&mut out, text.as_bytes());
        let _ = std::io::Write::flush(&mut out);
        text.lines().for_each(|l| times.line(l));
    });
    print!("{}", times.into_inner().unwrap().table());
    println!("the suite took {:.0} s (after the set-up and the build)", began.elapsed().as_secs_f64());
    if failed.is_empty() {
        return Ok(0);
    }
    println!("error: {} test binaries failed: {}", failed.len(), failed.join(", "));
    Ok(101)
}

/// Runs `cargo test --workspace --no-fail-fast ARGS`, timing each test binary; returns its exit
/// code.
fn cargo_test(extra: &[String]) -> Result<i32> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // cargo's stderr (its `Running` lines) and the tests' stdout (their `test result:` lines)
    // through one pipe, in order, so each binary's time is read as it passes.
    let (reader, writer) = std::io::pipe().context("making a pipe for cargo test's output")?;
    let began = std::time::Instant::now();
    let mut child = Command::new(cargo)
        .current_dir(paths::workspace())
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(extra)
        .stdout(writer.try_clone().context("sharing the pipe")?)
        .stderr(writer)
        .spawn()
        .context("running cargo test")?;
    let mut times = crate::test_times::Times::default();
    let copied = crate::test_times::pass_through(reader, std::io::stdout().lock(), &mut times);
    let status = child.wait().context("waiting for cargo test")?;
    copied.context("passing cargo test's output on")?;
    print!("{}", times.table());
    println!("the suite took {:.0} s (after the set-up)", began.elapsed().as_secs_f64());
    Ok(status.code().unwrap_or(exit::INFRA))
}

/// The workflow test validates `.github/workflows/rig.yml` with `check-jsonschema`, a PyPI
/// package (GitHub's workflow schema is vendored in it: no network at test time).
fn ensure_check_jsonschema() -> Result<()> {
    if rig::host::prereqs::have_program("check-jsonschema") {
        return Ok(());
    }
    eprintln!("rig: installing check-jsonschema from PyPI (the workflow test uses it)");
    let out = std::process::Command::new("python3")
        .args(["-m", "pip", "install", "-q", "check-jsonschema"])
        .output()
        .context("running python3 -m pip (install python3 and pip)")?;
    anyhow::ensure!(
        out.status.success() && rig::host::prereqs::have_program("check-jsonschema"),
        "python3 -m pip install check-jsonschema did not put check-jsonschema on PATH: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Two suite runs' evidence at most: the last one moves aside, the one before it goes.
    #[test]
    fn test_evidence_of_two_runs_is_kept_and_no_more() {
        let build = std::env::temp_dir().join(format!("rig-rotate-{}", std::process::id()));
        let run = |marker: &str| {
            std::fs::create_dir_all(build.join("test-runs")).unwrap();
            std::fs::write(build.join("test-runs").join(marker), "").unwrap();
            super::rotate_test_runs(&build).unwrap();
        };
        run("first");
        run("second");
        let kept: Vec<_> =
            std::fs::read_dir(build.join("test-runs.previous")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(!build.join("test-runs").exists());
        assert_eq!(kept, ["second"]);
        std::fs::remove_dir_all(&build).unwrap();
    }
}
