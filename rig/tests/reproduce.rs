//! `reproduce`'s pure half on real text, no guests: the seed's own OS-7410 report matches the
//! coal case and the Linux miniature (with the image each needs), the miniature's panic
//! matches them the other way round, bad input is refused, and drafts load as cases.

use std::path::PathBuf;

use rig::reproduce::{self, ReadError, Strength, Sureness};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The seed's own report (`docs/OS-7410.txt`, as the README links it).
fn seed() -> Vec<u8> {
    let path = root().join("docs/OS-7410.txt");
    std::fs::read(&path).unwrap_or_else(|e| panic!("the seed's report {}: {e}", path.display()))
}

fn shipped_cases() -> Vec<rig::case::LoadedCase> {
    rig::case::list(&root().join("testcases")).into_iter().map(|c| c.unwrap_or_else(|e| panic!("{e}"))).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rig-reproduce-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_seed_matches_the_coal_case_and_the_miniature_and_names_their_images() {
    let r = reproduce::read(&seed(), None).unwrap();
    assert_eq!(r.os().name(), "illumos");
    assert_eq!(r.report.title, "assertion failed: !zsd->vz_active in vmm_zsd_destroy");
    assert_eq!(r.function.as_deref(), Some("vmm_zsd_destroy"));
    assert_eq!(r.module(), Some("vmm"));
    assert_eq!(r.frames[..3], ["vmm:vmm_zsd_destroy", "genunix:zsd_apply_destroy", "genunix:zsd_apply_all_keys"]);
    assert_eq!(r.sureness, Sureness::Sure);

    let found = reproduce::match_cases(&r, &shipped_cases());
    let names: Vec<&str> = found.iter().map(|m| m.case.case.name.as_str()).collect();
    assert_eq!(names[0], "os-7410-vmm-zsd", "the exact match ranks first: {names:?}");
    let coal = &found[0];
    assert_eq!((coal.strength, coal.via, coal.image.as_str(), coal.same_os), (Strength::Exact, "hunts", "coal", true));
    let mini = found.iter().find(|m| m.case.case.name == "os-7410-miniature").expect("the miniature matches");
    assert_eq!(mini.strength, Strength::SameFrames);
    assert_eq!(mini.image, "linux-os7410-debug");
    assert_eq!(mini.compare, ["linux-os7410-debug", "linux-os7410-fixed"]);
    assert!(!mini.same_os);
    for other in ["boot-smoke", "kvm-reload-reboot-race", "kvm-reload-vm-churn"] {
        assert!(!names.contains(&other), "{other} hunts nothing: {names:?}");
    }
}

#[test]
fn the_miniatures_panic_matches_the_miniature_first_and_the_coal_case_by_its_frames() {
    let text = std::fs::read(root().join("rig/testdata/linux/console-kernel-bug-vmm-zsd.txt")).unwrap();
    let r = reproduce::read(&text, None).unwrap();
    assert_eq!(r.report.title, "kernel BUG in vmm_zsd_destroy");
    assert_eq!(r.frames[..2], ["vmm:vmm_zsd_destroy", "zones:zsd_apply_destroy"], "the `?` frames are not identifying");
    let found = reproduce::match_cases(&r, &shipped_cases());
    assert_eq!(found[0].strength, Strength::Exact);
    assert!(found[0].same_os);
    let coal = found.iter().find(|m| m.case.case.name == "os-7410-vmm-zsd").expect("the coal case matches");
    assert_eq!(coal.strength, Strength::SameFrames);
}

#[test]
fn a_case_given_with_case_is_matched_too_and_a_case_of_another_function_is_not() {
    let r = reproduce::read(&seed(), None).unwrap();
    let dir = scratch("given");
    let case = |name: &str, hunts: &str| {
        let file = dir.join(format!("{name}.yaml"));
        let yaml = format!("name: {name}\nguest:\n  image: coal\nhunts:\n{hunts}\nsteps:\n  - reboot: ssh\n");
        std::fs::write(&file, yaml).unwrap();
        rig::case::load(&file).unwrap_or_else(|e| panic!("{e}"))
    };
    let by_message = case("by-message", "  message: 'vz_active.*line: 162'");
    let elsewhere = case("elsewhere", "  function: zfs_ioc_destroy");
    let found = reproduce::match_cases(&r, &[by_message, elsewhere]);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].case.case.name.as_str(), found[0].strength), ("by-message", Strength::Exact));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_input_is_refused_with_what_to_give() {
    assert_eq!(reproduce::read(b"", None).unwrap_err(), ReadError::Empty);
    assert_eq!(reproduce::read(b" \n\t\n", None).unwrap_err(), ReadError::Empty);
    let noise = std::fs::read(root().join("rig/testdata/illumos/boot-noise-no-crash")).unwrap();
    let e = reproduce::read(&noise, None).unwrap_err();
    assert!(matches!(e, ReadError::NoPanic { .. }), "{e:?}");
    assert!(e.to_string().contains("no panic found"), "{e}");
    assert!(reproduce::read(&seed(), Some("beos")).unwrap_err().to_string().contains("unknown OS 'beos'"));
}

#[test]
fn the_seeds_draft_reloads_vmm_halts_zones_reboots_and_loads_as_a_case() {
    let r = reproduce::read(&seed(), None).unwrap();
    let image = reproduce::image_for(&r, None);
    assert_eq!(image, "coal");
    let d = reproduce::draft(&r, &image, "OS-7410.txt").unwrap();
    let dir = scratch("seed-draft");
    let path = reproduce::draft::write(&d, &dir).unwrap();
    let c = rig::case::load(&path).unwrap_or_else(|e| panic!("{e}\n{}", d.yaml)).case;
    assert!(d.yaml.starts_with("# DRAFT"), "{}", d.yaml);
    assert!(c.description.starts_with("DRAFT"));
    assert_eq!(c.name, "draft-vmm_zsd_destroy");
    assert_eq!(c.guest.image, "coal");
    let hunts = c.hunts.clone().unwrap();
    assert_eq!(hunts.title.as_deref(), Some("assertion failed: !zsd->vz_active in vmm_zsd_destroy"));
    assert_eq!(hunts.function.as_deref(), Some("vmm_zsd_destroy"));
    let kinds: Vec<String> = rig::case::load::all_steps(&c.steps).map(|s| s.kind.kind().key().to_string()).collect();
    for k in ["background", "reload_module", "halt_zones", "boot_zones", "reboot"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} step in {kinds:?}\n{}", d.yaml);
    }
    let knobs = reproduce::window::knobs(&c);
    assert_eq!(knobs.len(), 1, "the reboot's moment is explorable: {knobs:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_draft_on_a_guest_without_zones_says_so_and_still_loads() {
    let text = std::fs::read(root().join("rig/testdata/linux/console-kernel-bug-vmm-zsd.txt")).unwrap();
    let r = reproduce::read(&text, None).unwrap();
    let image = reproduce::image_for(&r, None);
    assert_eq!(image, rig::guest_os::default_image());
    let d = reproduce::draft(&r, &image, "console.txt").unwrap();
    let dir = scratch("linux-draft");
    let path = reproduce::draft::write(&d, &dir).unwrap();
    let c = rig::case::load(&path).unwrap_or_else(|e| panic!("{e}\n{}", d.yaml)).case;
    assert!(d.reasons.iter().any(|w| w.contains("has no zones")), "{:?}", d.reasons);
    let kinds: Vec<&str> = rig::case::load::all_steps(&c.steps).map(|s| s.kind.kind().key()).collect();
    assert!(kinds.contains(&"reboot") && !kinds.contains(&"halt_zones"), "{kinds:?}");
    assert!(reproduce::draft(&r, "nonesuch", "x").unwrap_err().contains("unknown image 'nonesuch'"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A real report: `cargo xtask reproduce` of the seed's text on the miniature (seed 29, two
/// guests, stopped at the first hit with three iterations run).
fn miniature_report() -> rig::results::model::RunReport {
    let path = root().join("rig/testdata/reproduce/miniature-until-panic.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_run_that_hit_the_hunted_crash_is_reproduced_and_one_that_did_not_rules_out_a_rate() {
    let report = miniature_report();
    match reproduce::judge(&report) {
        reproduce::Answer::Reproduced { case, image, iteration, title, hits, ran } => {
            assert_eq!((case.as_str(), image.as_str()), ("os-7410-miniature", "linux-os7410-debug"));
            assert_eq!((iteration, title.as_str(), hits, ran), (1, "kernel BUG in vmm_zsd_destroy", 2, 3));
        }
        other => panic!("{other}"),
    }
    // The same panics against a signature they do not fit: no hit, and the rate three clean
    // runs rule out, with the two panics counted as ending another way.
    let mut other = report.clone();
    other.runs[0].hunts.as_mut().unwrap().title = Some("kernel BUG in something_else".into());
    let a = reproduce::judge(&other);
    let want = reproduce::Answer::NotReproduced { ran: 3, other: 2, rate_ruled_out: rig::stats::zero_hit_upper(3) };
    assert_eq!(a, want);
    assert!(a.to_string().contains("a hit rate above 63.2% is ruled out at 95%"), "{a}");
}

#[test]
fn iterations_are_binned_by_the_sleep_they_recorded_past_a_snapshot_restore() {
    use rig::case::model::Jitter;
    use rig::reproduce::window::{Arm, binned};
    use rig::results::step::{StepDetail, StepRecord};
    let mut report = miniature_report();
    let rec = |step: &str, detail| StepRecord { t: 0.0, step: step.into(), result: "ok".into(), boot: None, detail };
    let sleeps = [1300, 2500, 1999];
    for (it, ms) in report.runs[0].iterations.iter_mut().zip(sleeps) {
        let restore = StepDetail::Restored { tag: "ready".into(), secs: 0.5 };
        it.steps = vec![
            rec("restore snapshot", Some(restore)),
            rec("ssh halt", None),
            rec("sleep", Some(StepDetail::Slept { ms })),
        ];
    }
    let hits: Vec<bool> =
        report.runs[0].iterations.iter().map(|it| reproduce::verdict::hit(&report.runs[0], it).is_some()).collect();
    let subs = [Jitter::new(1000, 2000), Jitter::new(2000, 3000)];
    let arms = binned(&report, 1, &subs).unwrap();
    let want = |pick: &dyn Fn(u64) -> bool| {
        let mine: Vec<bool> = sleeps.iter().zip(&hits).filter(|(ms, _)| pick(**ms)).map(|(_, h)| *h).collect();
        Arm { hits: mine.iter().filter(|h| **h).count() as u32, tries: mine.len() as u32 }
    };
    assert_eq!(arms, [want(&|ms| ms < 2000), want(&|ms| ms >= 2000)], "hits per iteration: {hits:?}");
    assert_eq!(arms.iter().map(|a| a.hits).sum::<u32>(), 2, "the report's two hits are counted once each");
    assert!(binned(&report, 0, &subs).is_none(), "step 0 (the halt) recorded no sleep");
}
