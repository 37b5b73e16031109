//! The race engine against the real guest under QEMU: races complete and are counted, reboots
//! are proven by new boot nonces, panics and hangs become verdicts with evidence.

mod common;

use std::path::PathBuf;

use rig::case::LoadedCase;
use rig::engine::campaign::{self, Plan};
use rig::machine::{Accel, cpu};
use rig::results::step::StepDetail;
use rig::results::{Outcome, RunReport, Verdict};

use common::case;

async fn run(cases: Vec<LoadedCase>, label: &str) -> (RunReport, PathBuf) {
    run_jobs(cases, label, 1).await
}

async fn run_jobs(cases: Vec<LoadedCase>, label: &str, jobs: usize) -> (RunReport, PathBuf) {
    common::image();
    let run_dir = common::evidence_dir(label);
    let plan = Plan {
        seed: 7,
        jobs,
        ..Plan::new(cases, vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let report = campaign::run(&plan, &mut |_| {}).await;
    (report, run_dir)
}

fn boot_ids(r: &rig::results::IterationResult) -> Vec<String> {
    r.steps.iter().filter_map(|s| s.boot.as_ref().map(|b| b.boot_id.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reboot_race_iterations_complete_with_new_boots() {
    let c = case(
        "race",
        "name: race\nguest: { nested: true }\niterations: 2\ndeadlines: { iteration_secs: 120 }\nsteps:\n\
         \x20 - background:\n      steps:\n        - reload_module: vmm\n  - sleep: { min_ms: 300, max_ms: 600 }\n  - reboot: ssh\n",
    );
    let (r, dir) = run(vec![c], "engine-race").await;
    let run = &r.runs[0];
    assert_eq!(run.tally.ran, 2, "{run:#?}");
    assert_eq!(run.tally.pass, 2, "{run:#?}");
    let ids: Vec<String> = run.iterations.iter().flat_map(boot_ids).collect();
    assert_eq!(ids.len(), 2, "each iteration proves its reboot: {run:#?}");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(r.exit_code(), 0);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["runs"][0]["tally"]["pass"], 2);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 2);
    assert!(junit.contains("<testsuite name=\"race.epyc.linux\" tests=\"2\""), "{junit}");
    // Where the run came from, with the kernel release of the image it booted.
    let p = &r.provenance;
    assert!(p.kernel_releases.get("linux").is_some_and(|k| k.ends_with("-amd64")), "{p:?}");
    assert!(p.qemu_version.starts_with("QEMU emulator version") && p.duration_secs().is_some(), "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_reload_loop_really_reloads() {
    let c = case(
        "bg",
        "name: bg\nguest: { nested: true }\nsteps:\n  - background:\n      steps:\n        - reload_module: vmm\n\
         \x20 - background:\n      steps:\n        - qmp: { execute: query-status }\n        - sleep: { min_ms: 200, max_ms: 200 }\n\
         \x20 - sleep: { min_ms: 3000, max_ms: 3000 }\n",
    );
    let (r, dir) = run(vec![c], "engine-bg").await;
    let it = &r.runs[0].iterations[0];
    assert_eq!(it.verdict, Verdict::Pass, "{it:#?}");
    // Both loops report their rounds: the in-guest one with every reload's unload and load,
    // checked; the one on the host (QMP needs the host) by its own count.
    let c = &it.reloads;
    assert_eq!((c.loops, c.loops_unreported), (2, 0), "{it:#?}");
    let host: Vec<&str> =
        it.steps.iter().filter(|s| s.step == "background loop on the host").map(|s| &*s.result).collect();
    let host_rounds: u32 = match host[..] {
        [said] => said.strip_suffix(" rounds").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{said}")),
        _ => panic!("the host loop's end is noted once: {it:#?}"),
    };
    let queries = it.steps.iter().filter(|s| s.step.starts_with("qmp") && s.result.starts_with("ok")).count() as u32;
    assert!(host_rounds >= 2 && host_rounds == queries, "{host_rounds} rounds, {queries} queries: {it:#?}");
    let guest_rounds = c.loop_rounds - host_rounds;
    assert!(guest_rounds >= 1 && c.attempted == guest_rounds, "{c:#?}");
    assert!(c.reloads_ok >= 1, "the loop never really reloaded kvm_amd: {c:#?}");
    assert_eq!((c.unloads_ok, c.loads_ok), (c.attempted, c.attempted), "a failure would have failed the step: {c:#?}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["runs"][0]["iterations"][0]["reloads"]["reloads_ok"], c.reloads_ok);
    assert_eq!(json["runs"][0]["tally"]["reloads"]["reloads_ok"], c.reloads_ok);
    let table = rig::report::table::render(&r);
    assert!(table.contains(&format!("{} reloads: {} ok,", c.attempted, c.reloads_ok)), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_missing_panics_and_hangs_become_verdicts() {
    let sysrq = case(
        "sysrq",
        "name: sysrq\nexpect: { outcome: panic, message: sysrq }\nsteps:\n  - ssh: echo c > /proc/sysrq-trigger\n    ignore_status: true\n",
    );
    let no_panic = case("nopanic", "name: nopanic\nexpect: { outcome: panic }\nsteps:\n  - ssh: \"true\"\n");
    let hang = case(
        "hang",
        "name: hang\ndeadlines: { iteration_secs: 8 }\nsteps:\n  - ssh: sleep 600\n    timeout_secs: 600\n",
    );
    let (r, _) = run(vec![sysrq, no_panic, hang], "engine-verdicts").await;

    let it = &r.runs[0].iterations[0];
    match &it.outcome {
        Outcome::Panic { title, excerpt, report, dumps, triage } => {
            assert!(report.is_some(), "the console report was read");
            assert!(title.contains("sysrq"), "{title}");
            assert!(excerpt.contains("Kernel panic - not syncing"), "{excerpt}");
            assert_eq!(dumps.len(), 1, "a dump for every panic");
            assert!(dumps[0].error.is_none(), "{:?}", dumps[0]);
            assert!(dumps[0].path.is_file() && dumps[0].bytes > 1 << 20, "{:?}", dumps[0]);
            assert!(triage.contains("sysrq"), "{triage}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(it.verdict, Verdict::Pass, "the case expected this panic");

    let it = &r.runs[1].iterations[0];
    assert!(matches!(it.outcome, Outcome::Completed));
    assert_eq!(it.verdict, Verdict::Fail, "a case expecting a panic fails when none comes");

    let it = &r.runs[2].iterations[0];
    match &it.outcome {
        Outcome::Hang { awaited, tail, evidence } => {
            assert!(awaited.contains("sleep 600"), "{awaited}");
            assert!(!tail.is_empty());
            let ev = evidence.as_ref().expect("hang evidence");
            assert!(ev.registers.contains("RIP="), "registers of every vCPU: {}", ev.registers);
            assert!(ev.dump.as_ref().is_some_and(|d| d.error.is_none()), "{:?}", ev.dump);
            assert!(ev.nmi.injected);
        }
        other => panic!("expected a hang, got {other:?}"),
    }
    let bound = common::pace::measured().await.secs(60);
    assert!(
        it.secs < bound.as_secs_f64(),
        "the deadline was 8 s (plus a bounded capture), the iteration took {} (bound {bound:?})",
        it.secs
    );
    assert_eq!(it.verdict, Verdict::Fail);
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_keeps_its_first_two_dumps_and_the_third_says_where_they_are() {
    let sysrq = case(
        "sysrq3",
        "name: sysrq3\niterations: 3\nexpect: { outcome: panic, message: sysrq }\nsteps:\n\
         \x20 - ssh: echo c > /proc/sysrq-trigger\n    ignore_status: true\n",
    );
    let (r, run_dir) = run(vec![sysrq], "engine-dump-ledger").await;
    let its = &r.runs[0].iterations;
    assert_eq!(its.len(), 3, "{r:#?}");
    let dumps: Vec<&rig::dump::DumpInfo> = its.iter().flat_map(|i| i.outcome.dumps()).collect();
    assert_eq!(dumps.len(), 3, "a record for every panic: {dumps:#?}");
    let (kept, third) = (&dumps[..2], dumps[2]);
    for d in kept {
        assert!(d.ok() && d.path.is_file() && d.bytes > 1 << 20, "the first two are kept: {d:?}");
    }
    let why = third.skipped.as_deref().unwrap_or_else(|| panic!("the third is not kept: {third:?}"));
    let Outcome::Panic { title, .. } = &its[2].outcome else { panic!("{:?}", its[2].outcome) };
    assert!(why.contains(&format!("2 dumps of '{title}' on linux already kept")), "{why}");
    for d in kept {
        assert!(why.contains(&d.path.display().to_string()), "{why} names {}", d.path.display());
    }
    assert!(!third.path.exists(), "{}", third.path.display());
    assert!(its.iter().all(|i| i.verdict == Verdict::Pass), "a dump not kept changes no verdict");
    let table = rig::report::table::render(&r);
    assert!(table.contains("1 x dump not kept: "), "{table}");
    let json = std::fs::read_to_string(run_dir.join("report.json")).unwrap();
    assert!(json.contains("\"skipped\""), "the report says it too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_killed_mid_iteration_is_infra_not_a_hang() {
    // The step tells the console when it is under way; then QEMU is killed from outside.
    let c = case(
        "qemu-dies",
        "name: qemu-dies\ndeadlines: { iteration_secs: 600 }\nsteps:\n  - ssh: echo RIG-TEST-SLEEPING > /dev/console; sleep 600\n    timeout_secs: 600\n",
    );
    common::image();
    let run_dir = common::evidence_dir("engine-qemu-dies");
    let boot = run_dir.join("qemu-dies_epyc_linux/boot-1");
    let killer = tokio::spawn(async move {
        loop {
            let console = std::fs::read_to_string(boot.join("ttyS0.log")).unwrap_or_default();
            if console.contains("RIG-TEST-SLEEPING") {
                let pid: i32 = std::fs::read_to_string(boot.join("qemu.pid")).unwrap().trim().parse().unwrap();
                // SAFETY: plain syscall on the QEMU this test's run started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let plan = Plan {
        seed: 7,
        ..Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    killer.abort();
    let it = &r.runs[0].iterations[0];
    match &it.outcome {
        Outcome::Infra { reason } => {
            assert!(reason.starts_with("QEMU exited during the iteration (killed by signal 9)"), "{reason}");
            assert!(reason.contains("sleep 600"), "{reason}");
        }
        other => panic!("expected infra, got {other:?}"),
    }
    assert_eq!(it.verdict, Verdict::Error);
    assert_eq!(r.exit_code(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_whose_last_step_quits_qemu_does_not_pass() {
    // Every step succeeds, but the last one takes the guest away: nothing after it was checked.
    let c = case("quits", "name: quits\nsteps:\n  - ssh: \"true\"\n  - qmp: { execute: quit }\n");
    common::image();
    let run_dir = common::evidence_dir("engine-quits");
    let plan = Plan {
        seed: 7,
        ..Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    let it = &r.runs[0].iterations[0];
    match &it.outcome {
        Outcome::StepFailed { step, reason } => {
            assert!(step.contains("quit"), "{step}");
            assert!(reason.starts_with("QEMU exited during the iteration (exit status 0)"), "{reason}");
        }
        other => panic!("expected the quitting step to fail the iteration, got {other:?}"),
    }
    assert_eq!(it.verdict, Verdict::Fail);
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_is_said_and_is_not_a_pass() {
    // `report.json` is written through `report.tmp`: a directory there makes every write fail,
    // as a full disk would. No guest is needed: `host` under TCG is skipped.
    let c = case("unwritable", "name: unwritable\nsteps:\n  - ssh: \"true\"\n");
    let run_dir = common::evidence_dir("engine-unwritable");
    std::fs::create_dir_all(run_dir.join("report.tmp")).unwrap();
    let plan = Plan {
        seed: 7,
        ..Plan::new(vec![c], vec![cpu::lookup("host").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    assert!(r.evidence_errors.iter().any(|e| e.contains("Is a directory")), "{:?}", r.evidence_errors);
    assert_eq!(r.exit_code(), 3);
    let table = rig::report::table::render(&r);
    assert!(table.contains("EVIDENCE LOST: writing the report in"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guests_keep_their_evidence_apart() {
    let c = case(
        "par",
        "name: par\niterations: 4\nsteps:\n  - ssh: cat /proc/sys/kernel/random/boot_id\n  - reboot: qmp\n",
    );
    let (r, dir) = run_jobs(vec![c], "engine-parallel", 2).await;
    let run = &r.runs[0];
    assert_eq!(run.tally.pass, 4, "{run:#?}");
    let mut dirs: Vec<&str> = run.iterations.iter().map(|i| i.evidence.as_str()).collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(dirs.len(), 2, "two guests, two evidence directories: {dirs:?}");
    for d in &dirs {
        assert!(d.starts_with(&dir.display().to_string()), "{d}");
        let console = std::fs::read_to_string(std::path::Path::new(d).join("ttyS0.log")).unwrap();
        assert!(console.contains("RIG-READY"), "each guest has its own console log");
    }
    assert_eq!(run.iterations.iter().map(|i| i.index).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let ids: Vec<String> = run.iterations.iter().flat_map(boot_ids).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "every iteration proved its own reboot: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_of_one_name_keep_their_evidence_apart() {
    // Two case files of one name, and two whose names sanitize to one directory name: each
    // run writes its own marker on its console.
    let files = ["twin-a", "twin-b", "twin-c", "twin-d"];
    let twins: Vec<LoadedCase> = files
        .iter()
        .zip(["twin", "twin", "twin:x", "twin/x"])
        .map(|(file, name)| {
            case(file, &format!("name: \"{name}\"\nsteps:\n  - ssh: echo RIG-TWIN-{file} > /dev/console\n"))
        })
        .collect();
    let (r, _) = run(twins, "engine-twins").await;
    let dirs: Vec<&str> = r.runs.iter().map(|run| run.iterations[0].evidence.as_str()).collect();
    assert_eq!(r.runs.iter().map(|run| run.tally.pass).sum::<u32>(), 4, "{r:#?}");
    for (k, d) in dirs.iter().enumerate() {
        assert!(dirs.iter().filter(|x| *x == d).count() == 1, "a shared evidence directory: {dirs:?}");
        let console = std::fs::read_to_string(std::path::Path::new(d).join("ttyS0.log")).unwrap();
        for (j, file) in files.iter().enumerate() {
            assert_eq!(console.contains(&format!("RIG-TWIN-{file}")), j == k, "{d}: {console}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_restore_iterations_start_clean_with_fresh_jitter() {
    // The marker file would survive into the next iteration without a restore.
    let c = case(
        "snap",
        "name: snap\nsnapshot: true\niterations: 3\nsteps:\n  - sleep: { min_ms: 1, max_ms: 2000 }\n  - ssh: test ! -e /run/rig-mark && touch /run/rig-mark\n",
    );
    let (r, _) = run(vec![c], "engine-snapshot").await;
    let run = &r.runs[0];
    assert_eq!(run.mode, rig::results::model::Mode::SnapshotRestore);
    assert_eq!(run.tally.pass, 3, "every iteration started from the saved state: {run:#?}");
    for it in &run.iterations[1..] {
        assert!(
            matches!(&it.steps[0].detail, Some(StepDetail::Restored { tag, .. }) if tag == "rig-base"),
            "{:?}",
            it.steps
        );
    }
    let slept: Vec<u64> = run
        .iterations
        .iter()
        .flat_map(|i| {
            i.steps.iter().filter_map(|s| match s.detail {
                Some(StepDetail::Slept { ms }) => Some(ms),
                _ => None,
            })
        })
        .collect();
    assert_eq!(slept.len(), 3);
    assert!(slept[0] != slept[1] && slept[1] != slept[2], "fresh jitter per iteration: {slept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_build_reproduces_os7410_and_the_fixed_build_does_not() {
    let c = rig::case::find(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"),
        "os-7410-miniature",
    )
    .unwrap();
    common::image();
    let run_dir = common::evidence_dir("engine-os7410");
    let plan = Plan {
        iterations: Some(4),
        seed: 11,
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        jobs: 2,
        ..Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    assert_eq!(r.comparisons.len(), 1, "{r:#?}");
    let cmp = &r.comparisons[0];
    let (debug, fixed) = (&cmp.builds[0], &cmp.builds[1]);
    assert_eq!(debug.image, "linux-os7410-debug");
    assert!(debug.hits >= 1, "the debug build reproduces OS-7410 in 4 iterations: {debug:#?}");
    assert!(debug.titles.iter().any(|(t, _)| t == "kernel BUG in vmm_zsd_destroy"), "{debug:#?}");
    assert_eq!((fixed.iterations, fixed.panics), (4, 0), "{fixed:#?}");
    // Every iteration's loop is accounted for: the fixed build's reported in full; a debug
    // iteration that panicked before its loop's last report keeps what was read and says so.
    assert_eq!(debug.reloads.loops + debug.reloads.loops_unreported, 4, "{debug:#?}");
    assert_eq!((fixed.reloads.loops, fixed.reloads.loops_unreported), (4, 0), "{fixed:#?}");
    assert!(fixed.reloads.reloads_ok > 0 && fixed.reloads_median.is_some_and(|m| m > 0.0), "{fixed:#?}");
    assert!(rig::report::table::render(&r).contains("ok per iteration"));
    assert_ne!(cmp.conclusions[0].status, rig::results::compare::Status::NotFixed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kdump_guest_hands_over_its_own_vmcore() {
    let c = case(
        "kdump",
        "name: kdump\nguest: { image: linux-kdump }\nexpect: { outcome: panic }\nsteps:\n\
         \x20 - ssh: test \"$(cat /sys/kernel/kexec_crash_loaded)\" = 1\n\
         \x20 - ssh: echo c > /proc/sysrq-trigger\n    ignore_status: true\n",
    );
    common::image();
    let run_dir = common::evidence_dir("engine-kdump");
    let plan = Plan {
        seed: 5,
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let r = campaign::run(&plan, &mut |_| {}).await;
    let it = &r.runs[0].iterations[0];
    let Outcome::Panic { triage, .. } = &it.outcome else { panic!("expected a panic: {it:#?}") };
    assert!(triage.contains("kdump: ") && triage.contains("/proc/vmcore"), "{triage}");
    let vmcore = std::path::Path::new(&it.evidence).join("iteration-1/vmcore.guest");
    let head = std::fs::read(&vmcore).map(|b| b[..18].to_vec()).unwrap_or_default();
    assert_eq!(&head[..4], b"\x7fELF", "{}", vmcore.display());
    assert_eq!(u16::from_le_bytes([head[16], head[17]]), 4, "an ELF core (ET_CORE)");
    assert!(std::fs::metadata(&vmcore).unwrap().len() > 100 << 20, "the panicked kernel's memory");
    let _ = std::fs::remove_file(&vmcore);
}

/// A kernel that panics before the guest is ready (no init to run) is the iteration's panic,
/// titled, and ends at once: not a wait to the boot deadline, not "never became ready".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_booting_is_the_iterations_panic_at_once() {
    let c = case(
        "boot-panic",
        "name: boot-panic\nguest: { kernel_args: [rdinit=/no/such/init] }\ndeadlines: { boot_secs: 600 }\nsteps:\n  - sleep: { min_ms: 10, max_ms: 10 }\n",
    );
    let began = std::time::Instant::now();
    let (r, _) = run(vec![c], "engine-boot-panic").await;
    let took = began.elapsed();
    let it = &r.runs[0].iterations[0];
    match &it.outcome {
        Outcome::Panic { title, triage, .. } => {
            assert!(title.starts_with("kernel panic: VFS: Unable to mount root fs"), "{title}");
            assert!(triage.contains(title.as_str()), "{triage}");
        }
        o => panic!("expected the boot's panic, got {o:#?}"),
    }
    assert_eq!(it.verdict, Verdict::Fail);
    assert!(
        it.steps.iter().any(|s| s.step == "boot" && s.result.contains("panicked before the guest was ready")),
        "{it:#?}"
    );
    assert!(took < std::time::Duration::from_secs(300), "the boot's panic took {took:?} to end the iteration");
}

/// A QEMU that stops (SIGSTOP) mid-iteration is the host's fault, not a kernel hang: the
/// iteration is infra, saying QMP did not answer and QEMU's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_qemu_is_infra_not_a_hang() {
    let c = case("frozen", "name: frozen\nsteps:\n  - ssh: 'echo started; sleep 60'\n");
    common::image();
    let run_dir = common::evidence_dir("engine-frozen");
    let plan = Plan {
        seed: 7,
        ..Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone())
    };
    let freeze = async {
        // Once the step runs (its SSH session is up), stop QEMU.
        let boot = run_dir.join("frozen_epyc_linux/boot-1");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        let pid = loop {
            assert!(std::time::Instant::now() < deadline, "the guest never booted: {}", boot.display());
            let ready = std::fs::read_to_string(boot.join("ttyS0.log")).is_ok_and(|l| l.contains("RIG-READY"));
            if let (true, Ok(pid)) = (ready, std::fs::read_to_string(boot.join("qemu.pid"))) {
                break pid.trim().parse::<i32>().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        // SAFETY: kill has no memory preconditions; the pid is the test's own QEMU child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        pid
    };
    let mut progress = |_: &_| {};
    let (r, pid) = tokio::join!(campaign::run(&plan, &mut progress), freeze);
    let it = &r.runs[0].iterations[0];
    match &it.outcome {
        Outcome::Infra { reason } => {
            assert!(reason.contains("QEMU froze: its monitor did not answer"), "{reason}");
            assert!(reason.contains("T (stopped)"), "{reason}");
        }
        o => panic!("expected infra, got {o:#?}"),
    }
    assert!(!common::alive(pid), "the frozen QEMU was left behind");
}

/// A run directory the caller has not made yet (a bench's per-part directory) is made by the
/// run, owner-only, and holds the report.
#[tokio::test]
async fn a_run_makes_its_own_run_directory() {
    let run_dir = common::evidence_dir("engine-new-run-dir").join("part/restore");
    let plan = Plan::new(vec![], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone());
    let r = campaign::run(&plan, &mut |_| {}).await;
    assert!(r.evidence_errors.is_empty(), "{:?}", r.evidence_errors);
    assert!(run_dir.join("report.json").is_file());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&run_dir).unwrap().permissions().mode() & 0o777, 0o700);
}

/// Panic text that a program prints on the console while the kernel runs on is not a kernel
/// panic: the iteration completes, and its step log says what was passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_text_printed_by_a_program_is_not_a_kernel_panic() {
    let c = case(
        "fake-panic",
        "name: fake-panic\nsteps:\n  - ssh: \"printf 'BUG: kernel NULL pointer dereference, address: 0000000000000000\\\\nKernel panic - not \
         syncing: Fatal exception\\\\n' > /dev/ttyS0\"\n  - sleep: { min_ms: 8000, max_ms: 8000 }\n  - ssh: 'true'\n",
    );
    let (r, _) = run(vec![c], "engine-fake-panic").await;
    let it = &r.runs[0].iterations[0];
    assert!(matches!(it.outcome, Outcome::Completed), "{it:#?}");
    assert_eq!(it.verdict, Verdict::Pass);
    assert!(
        it.steps.iter().any(|s| s.step == "console" && s.result.contains("not taken for a kernel panic")),
        "{:#?}",
        it.steps
    );
}

/// A boot that goes silent (its vCPUs stopped as it starts, an injected fault) is given up at
/// the silence bound and booted once more on a fresh QEMU: the iteration is kept and says so.
/// Two silent boots in a row make the iteration infra, quoting the silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_boot_is_retried_once_on_a_fresh_qemu() {
    for (silent, label) in [(1, "engine-silent-once"), (2, "engine-silent-twice")] {
        let c = case("silent", "name: silent\ndeadlines: { boot_secs: 600 }\nsteps:\n  - ssh: 'true'\n");
        common::image();
        let run_dir = common::evidence_dir(label);
        let mut plan =
            Plan::new(vec![c], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, common::build_dir(), run_dir.clone());
        plan.inject.silent_boots = silent;
        plan.inject.boot_silence = Some(std::time::Duration::from_secs(5));
        let began = std::time::Instant::now();
        let r = campaign::run(&plan, &mut |_| {}).await;
        let it = &r.runs[0].iterations[0];
        let dir = run_dir.join("silent_epyc_linux");
        if silent == 1 {
            assert!(matches!(it.outcome, Outcome::Completed), "{it:#?}");
            assert!(
                it.steps.iter().any(|s| s.step == "boot" && s.result.contains("the first boot went silent")),
                "{:#?}",
                it.steps
            );
            assert!(dir.join("boot-1/ttyS0.log").is_file() && dir.join("boot-2/ttyS0.log").is_file());
        } else {
            match &it.outcome {
                Outcome::Infra { reason } => assert!(reason.contains("the boot went silent"), "{reason}"),
                o => panic!("expected infra, got {o:#?}"),
            }
        }
        // The silence bound, not the boot deadline.
        assert!(began.elapsed() < std::time::Duration::from_secs(120), "{:?}", began.elapsed());
    }
}
