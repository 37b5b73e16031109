//! The engine's whole coal path against the coal stand-in (`images/coal-stand-in/`): a disk
//! shaped like a coal USB key that boots Linux and plays a headnode (its console on ttyb, setup
//! with a reboot, sshd at the admin address, illumos commands as scripts, the OS-7410 race on
//! a DEBUG platform). Nothing in the rig knows it is not SmartOS: the image is prepared by
//! `rig::guest_os::illumos::coal::prepare` from a tarball, booted by `CoalImage::machine`, driven with the illumos
//! profile, read by the illumos crash reader. What the stand-in cannot prove is listed in
//! `images/coal/README.md`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use common::pace::Pace;
use rig::case::LoadedCase;
use rig::engine::campaign::{self, Plan};
use rig::guest_os::illumos::coal::era::BootConfig;
use rig::guest_os::illumos::coal::{CoalImage, PrepareOptions, prepare};
use rig::machine::{Accel, cpu};
use rig::results::RunReport;
use rig::results::{Outcome, StopReason, Verdict};

const OS7410_TITLE: &str = "assertion failed: !zsd->vz_active in vmm_zsd_destroy";
/// The buggy DEBUG platform's stamp.
const BUGGY_PI: &str = rig::guest_os::illumos::coal::stand_in::recipe::DEBUG_BUGGY_PLATFORM;

/// The shipped OS-7410 case, made small enough for two TCG cores.
/// Its deadlines are a quiet machine's, scaled by `pace`.
fn os7410_case(iterations: u32, pace: Pace) -> LoadedCase {
    let mut lc =
        rig::case::find(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "os-7410-vmm-zsd").unwrap();
    lc.case.iterations = iterations;
    lc.case.guest.memory_mib = rig::guest_os::illumos::coal::machine::MIN_MEMORY_MIB;
    lc.case.guest.vcpus = 2;
    lc.case.deadlines.boot_secs = pace.secs(300).as_secs();
    lc.case.deadlines.iteration_secs = pace.secs(300).as_secs();
    lc
}

/// The headnodes the tests share, prepared once per test binary in one build directory:
/// from the stand-in's GRUB-era key (`4gb.img`, `boot/grub/menu.lst` booted by the stand-in's
/// own reader) the buggy DEBUG platform (the reference) and the fixed one; from its loader-era
/// (GPT) key the pinned one (a 2019 DEBUG platform with the buggy race code on which every vmm
/// unload is refused; a 2018 platform cannot mount a GPT key), so the loader path crosses the
/// engine too. Each is set up once, by whichever test boots it first;
/// a test of another machine shape boots the set-up disks as they are.
struct Headnodes {
    build: PathBuf,
    buggy: CoalImage,
    fixed: CoalImage,
    pinned: CoalImage,
}

fn headnodes() -> &'static Headnodes {
    static SHARED: OnceLock<Headnodes> = OnceLock::new();
    SHARED.get_or_init(|| {
        common::require_qemu();
        let s = rig::guest_os::illumos::coal::stand_in::ensure_stand_in(&common::build_dir())
            .expect("building the coal stand-in");
        let build = common::evidence_dir("coal-engine");
        let prep = |key: &PathBuf, platform: &PathBuf| {
            prepare(&PrepareOptions::new(key.clone(), Some(platform.clone()), build.clone())).unwrap()
        };
        let buggy = prep(&s.grub_tarball, &s.debug_buggy_platform);
        let fixed = prep(&s.grub_tarball, &s.debug_fixed_platform);
        let pinned = prep(&s.tarball, &s.debug_pinned_platform);
        for (img, boot) in
            [(&buggy, BootConfig::GrubMenu), (&fixed, BootConfig::GrubMenu), (&pinned, BootConfig::LoaderConf)]
        {
            assert_eq!(img.manifest.key.map(|k| k.boot), Some(boot), "{}", img.dir.display());
        }
        Headnodes { build, buggy, fixed, pinned }
    })
}

/// Runs cases on the image in `build` and returns the report, its directory and the progress
/// lines shown.
async fn run_on(build: &Path, cases: Vec<LoadedCase>, label: &str) -> (RunReport, PathBuf, Vec<String>) {
    run_plan(build, cases, label, None).await
}

/// Runs a plan: each case on the image in `build`, or as a sequential comparison of
/// `compare`'s images (reference first), each build running until its verdict is decided or
/// the case's `iterations` (the budget) are spent.
async fn run_plan(
    build: &Path,
    cases: Vec<LoadedCase>,
    label: &str,
    compare: Option<Vec<String>>,
) -> (RunReport, PathBuf, Vec<String>) {
    let run_dir = common::evidence_dir(label);
    let plan = Plan {
        seed: 7410,
        compare,
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(cases, vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, build.to_path_buf(), run_dir.clone())
    };
    let stages = Arc::new(Mutex::new(Vec::new()));
    let seen = stages.clone();
    let _slot = common::heavy_guest_slot().await;
    let report = campaign::run(&plan, &mut move |p| seen.lock().unwrap().extend(p.stage.clone())).await;
    let stages = stages.lock().unwrap().clone();
    (report, run_dir, stages)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Setup steps that undo the rig's `nopanicdebug` (set when the guest became ready), so a
/// panic stops at kmdb's prompt, as on a platform where setting it failed.
fn stop_at_kmdb() -> rig::case::step::Steps {
    let c =
        rig::case::parse("name: x\nsetup:\n  - ssh: \"echo 'nopanicdebug/W 0' | mdb -kw\"\nsteps:\n  - ssh: 'true'\n")
            .unwrap();
    c.setup
}

/// The image name that selects one prepared headnode (`coal-<key>`).
fn name(img: &CoalImage) -> String {
    img.dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// Iterations per build at most: the sequential rule decides FIXED after 4 when the reference
/// hits in all 4, or at the reference's 5th hit; 8 leaves room for a few misses.
const BUDGET: u32 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grub_era_os7410_reproduces_on_debug_not_on_fixed_and_a_pinned_vmm_is_not_exercised_decided_sequentially() {
    // One sequential comparison: the buggy DEBUG platform (reference) against the fixed one and
    // the pinned one (every vmm unload refused with `Device busy`: its iterations cannot panic
    // with OS-7410, and clean runs of a race that never ran must not read as a fix). Each build
    // runs until the sequential rule decides, within BUDGET iterations. Every panic stops at
    // kmdb's prompt: the rig must answer it for the dump, the reboot and savecore to come.
    let h = headnodes();
    let images = vec![name(&h.buggy), name(&h.fixed), name(&h.pinned)];
    let pace = common::pace::measured().await;
    let mut case = os7410_case(BUDGET, pace);
    case.case.setup = stop_at_kmdb();
    let (r, run_dir, stages) = run_plan(&h.build, vec![case], "coal-engine-compare-run", Some(images.clone())).await;
    assert_eq!(r.comparisons.len(), 1, "{r:#?}");
    let cmp = &r.comparisons[0];
    let (b, f, p) = (&cmp.builds[0], &cmp.builds[1], &cmp.builds[2]);
    assert_eq!(
        (b.image.as_str(), f.image.as_str(), p.image.as_str()),
        (images[0].as_str(), images[1].as_str(), images[2].as_str())
    );
    assert!(r.runs.iter().all(|run| run.sequential), "{:#?}", r.runs);
    // An iteration may be lost to infrastructure only when a starved host starved the guest:
    // its boot stalled under TCG (the rig ends such a wait as infra, quoting the kernel), or an
    // SSH session died of its keepalive (seen at a load average of 11 on 2 cores). Such an
    // iteration does not count, and the rule still decides.
    for run in &r.runs {
        assert!(run.not_run.is_none(), "{}: {:#?}", run.image, run.not_run);
        for i in &run.iterations {
            if let Outcome::Infra { reason } = &i.outcome {
                let starved = reason.contains("stalled while booting") || reason.contains("Keepalive timeout");
                assert!(starved, "{}: {reason}", run.image);
            }
        }
    }

    // The reference's first boot: GRUB-era key booted from the rig's menu.lst by the stand-in's
    // reader, setup from the rig's answers shown as progress, the set-up headnode saved.
    assert!(stages.iter().any(|s| s.starts_with("coal setup: boot 2, zones")), "{stages:#?}");
    assert!(stages.iter().any(|s| s.starts_with("coal setup: complete")), "{stages:#?}");
    let tag = "rig-setup-epyc-hidden-6144m-2cpu-tcg";
    assert!(CoalImage::load(&h.buggy.dir).unwrap().manifest.setup_snapshots.iter().any(|t| t == tag));
    let case_dir = run_dir.join(format!("os-7410-vmm-zsd_epyc_{}", images[0]));
    let boot1 = case_dir.join("boot-1");
    let console = read(&boot1.join("ttyS1.log"));
    assert!(console.contains("GNU GRUB") && console.contains("Booting 'Live 64-bit'"), "{}", boot1.display());
    assert!(
        console.contains(&format!("kernel$ /os/{BUGGY_PI}/platform/i86pc/kernel/amd64/unix -k -B console=ttyb,")),
        "{}",
        boot1.display()
    );
    assert!(console.contains("==> Setup complete (in "), "{}", boot1.display());
    // The case hides SVM: the guest says so, and preflight records it as expected.
    let preflight = read(&boot1.join("preflight.txt"));
    assert!(
        preflight.contains("amd_svm absent") && preflight.contains("hma_svm_init: CPU does not support SVM"),
        "{preflight}"
    );
    assert!(read(&boot1.join("qemu.cmdline")).contains("EPYC,-svm"));

    // The buggy DEBUG platform reproduces: every panic is OS-7410, named by the illumos reader,
    // stopped at kmdb and answered, then triaged by savecore and mdb in the rebooted guest.
    let summary: Vec<String> =
        r.runs[0].iterations.iter().map(|i| format!("{}: {}", i.index, i.outcome.word())).collect();
    let panics: Vec<_> = r.runs[0].iterations.iter().filter(|i| matches!(i.outcome, Outcome::Panic { .. })).collect();
    assert!(panics.len() >= 4, "the reference hit too rarely to decide: {summary:?}");
    for i in &panics {
        let Outcome::Panic { title, triage, .. } = &i.outcome else { unreachable!() };
        assert_eq!(title, OS7410_TITLE, "{summary:?}");
        assert_eq!(i.verdict, Verdict::Fail);
        assert!(triage.contains("savecore + mdb of /var/crash/volatile/vmdump."), "{triage}");
        assert!(triage.contains("panic message: assertion failed: !zsd->vz_active"), "{triage}");
        assert!(
            triage.contains(
                "kmdb: the panic stopped at kmdb's prompt and the rig answered :c (1x); nopanicdebug set at run time"
            ),
            "{triage}"
        );
        let mdb = read(&Path::new(&i.evidence).join(format!("iteration-{}/savecore-mdb.txt", i.index)));
        assert!(mdb.contains("vmm_zsd_destroy"), "{mdb}");
    }
    assert_eq!(b.hits, b.panics, "every buggy-platform panic is the hunted one: {b:#?}");
    // After a panic the next iteration boots afresh from the saved headnode: no setup again.
    let boot2 = case_dir.join("boot-2");
    let cmdline = read(&boot2.join("qemu.cmdline"));
    assert!(cmdline.contains(&format!("-loadvm {tag}")), "{cmdline}");
    assert!(!read(&boot2.join("ttyS1.log")).contains("Setup complete"));

    // The fixed DEBUG platform: FIXED, by the sequential rule, before the budget.
    let k = &cmp.conclusions[0];
    assert_eq!(k.status, rig::results::compare::Status::Fixed, "{cmp:#?}");
    assert!(k.text.contains("decided sequentially"), "{}", k.text);
    assert!(f.panics == 0 && (4..=BUDGET).contains(&f.iterations), "{f:#?}");

    // The pinned platform: no complete reload, busy unloads counted, not exercised, and
    // decided so online: stopped after its first judged iterations that reloaded nothing
    // (rig::results::judged), within --jobs (1: one headnode at a time) of that decision.
    let after = rig::results::judged::NOT_EXERCISED_AFTER;
    assert_eq!(p.stopped, Some(StopReason::NotExercised { iterations: after as u32 }), "{p:#?}");
    assert_eq!(p.iterations, after as u32, "{p:#?}");
    let decided_at = r.runs[2].iterations.iter().filter(|i| i.outcome.judged()).nth(after - 1).unwrap().index;
    assert!(r.runs[2].iterations.iter().all(|i| i.index <= decided_at + 1), "{:#?}", r.runs[2].iterations);
    assert_eq!((p.hits, p.reloads.reloads_ok), (0, 0), "{p:#?}");
    assert!(p.reloads.unloads_busy > 0, "{p:#?}");
    // The case's `unload_busy: fail`: the busy unload fails the iteration with the guest's words.
    let it =
        r.runs[2].iterations.iter().find(|i| !matches!(i.outcome, Outcome::Infra { .. })).expect("a pinned iteration");
    match &it.outcome {
        Outcome::StepFailed { reason, .. } => {
            assert!(reason.contains("can't unload the module: Device busy"), "{reason}")
        }
        o => panic!("expected a step failure quoting the guest, got {o:#?}"),
    }
    let k = &cmp.conclusions[1];
    assert_eq!(k.status, rig::results::compare::Status::NotExercised, "{cmp:#?}");
    assert!(k.text.contains("both unloaded and loaded"), "{}", k.text);
    assert!(k.text.contains(&format!("decided after {after} iterations, as its first {after} judged")), "{}", k.text);
    assert_ne!(r.exit_code(), 0);
    let table = rig::report::table::render(&r);
    assert!(table.contains("NOT EXERCISED: the race did not run on"), "{table}");
    let json = read(&run_dir.join("report.json"));
    assert!(json.contains("\"status\": \"not_exercised\""), "{json}");
    assert!(json.contains("\"status\": \"fixed\""), "{json}");
    // The reference stopped as soon as every candidate was decided: within --jobs (1) judged
    // iterations of the fixed build's decision, as report.json says.
    let Some(StopReason::Decided { iterations: n }) = f.stopped else { panic!("{f:#?}") };
    let written: RunReport = serde_json::from_str(&json).unwrap();
    let reference = &written.runs[0];
    assert_eq!(reference.stopped, Some(StopReason::CandidatesDone), "{json}");
    let judged = reference.iterations.iter().filter(|i| i.outcome.judged()).count() as u32;
    let last = n.max(after as u32);
    assert!(judged <= last + 1, "the reference ran {judged} judged iterations, the last decision at {last}: {json}");

    // Then, on the buggy headnode the comparison set up, a panic that stops at a wedged kmdb.
    a_guest_frozen_at_kmdbs_prompt_after_a_panic_ends_within_minutes_as_that_panic(h, pace).await;
}

/// A panic on demand (`uadmin 5 1`, the illumos profile's panic command) that stops at kmdb's
/// prompt on a debugger that takes nothing (the stand-in's wedged kmdb, which stops every other
/// process): the rig answers `:c` a few times, then the guest's silence ends the iteration
/// within minutes as the panic it was (its title read off the console), the triage saying the
/// guest never booted again and why; never a wait to the boot deadline, never a hang verdict.
/// Runs on the buggy headnode already set up by the comparison (no setup again), and needs no
/// race, so it cannot miss (issue 30).
async fn a_guest_frozen_at_kmdbs_prompt_after_a_panic_ends_within_minutes_as_that_panic(h: &Headnodes, pace: Pace) {
    let mut case = os7410_case(1, pace);
    let wedged = rig::case::parse(
        "name: x\nsetup:\n  - ssh: \"echo 'nopanicdebug/W 0' | mdb -kw\"\n  - ssh: 'echo 1 > /run/standin/kmdb_wedged'\n\
         steps:\n  - ssh: 'uadmin 5 1'\n",
    )
    .unwrap();
    (case.case.setup, case.case.steps) = (wedged.setup, wedged.steps);
    case.case.guest.image = name(&h.buggy);
    // The reboot after the panic may stay silent this long (the rig's own bound is minutes).
    let silence = pace.secs(30);
    let run_dir = common::evidence_dir("coal-engine-frozen-kmdb");
    let plan = Plan {
        seed: 7410,
        inject: rig::engine::plan::Inject { silent_boots: 0, boot_silence: Some(silence) },
        dumps: rig::dump::DumpOptions { policy: rig::dump::DumpPolicy::None, ..Default::default() },
        ..Plan::new(vec![case], vec![cpu::lookup("epyc").unwrap()], Accel::Tcg, h.build.clone(), run_dir.clone())
    };
    let stages = Arc::new(Mutex::new(Vec::new()));
    let seen = stages.clone();
    let r = {
        let _slot = common::heavy_guest_slot().await;
        campaign::run(&plan, &mut move |p| seen.lock().unwrap().extend(p.stage.clone())).await
    };
    let stages = stages.lock().unwrap().clone();
    assert!(!stages.iter().any(|s| s.starts_with("coal setup")), "set up again: {stages:#?}");
    let it = &r.runs[0].iterations[..];
    let [it] = it else { panic!("one iteration expected: {it:#?}; evidence: {}", run_dir.display()) };
    let Outcome::Panic { title, triage, .. } = &it.outcome else {
        panic!("expected a panic, got {:#?}; evidence: {}", it.outcome, run_dir.display())
    };
    assert_eq!(title, "forced crash dump initiated at user request in kadmin");
    assert!(triage.contains("kmdb: the panic stopped at kmdb's prompt and the rig answered :c (3x)"), "{triage}");
    assert!(
        triage.contains("savecore: nothing to read: the guest did not boot again after the panic")
            && triage.contains("the boot went silent"),
        "{triage}"
    );
    // Minutes: the answers (5 s apart), the silence bound, the evidence; not the boot deadline.
    let deadline = os7410_case(1, pace).case.deadlines.boot_secs as f64;
    assert!(it.secs < deadline, "{} s, boot deadline {deadline} s: {}", it.secs, run_dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_refuses_nested_virtualization_is_a_clear_verdict() {
    // On the shared fixed GRUB-era headnode, in another machine shape (SVM offered): its disks
    // are set up by whichever test boots it first, and this one costs at most one boot more.
    let h = headnodes();
    // Under TCG QEMU offers SVM without NRIP save: a case that needs nested virtualization is
    // told so from the guest's own system log (read over SSH), not after hours of iterations.
    let mut nested = os7410_case(1, common::pace::measured().await);
    nested.case.guest.hide_virt = false;
    nested.case.guest.nested = true;
    nested.case.guest.image = name(&h.fixed);
    let (r, _, _) = run_on(&h.build, vec![nested], "coal-engine-nested-run").await;
    let run = &r.runs[0];
    let reason = match (&run.not_run, run.iterations.first().map(|i| &i.outcome)) {
        (_, Some(Outcome::Infra { reason })) | (Some(Outcome::Infra { reason }), _) => reason.clone(),
        other => panic!("expected an infra verdict, got {other:#?}"),
    };
    assert!(reason.starts_with("preflight: the case needs amd_svm"), "{reason}");
    assert!(reason.contains("hma_svm_init: CPU does not support"), "{reason}");
}
