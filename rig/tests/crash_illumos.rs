//! The illumos fixture corpus (`rig/testdata/illumos`): every layout and message kind of the
//! illumos console doc must read to its expected titles, however the bytes are chunked.

use rig::crash::corpus::{Case, load_dir};
use rig::crash::{CrashReader, Dialect, Event, detect_os, read_all};
use rig::guest_os::illumos::IllumosDialect;
use std::path::Path;

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/illumos");
    let cases = load_dir(&dir).unwrap_or_else(|e| panic!("illumos fixtures missing at {}: {e}", dir.display()));
    assert!(cases.len() >= 15, "only {} illumos fixtures", cases.len());
    cases
}

#[test]
fn every_fixture_reads_to_its_titles() {
    let mut failures = Vec::new();
    for case in cases() {
        assert!(case.origin.is_some(), "{}: no ORIGIN header", case.path.display());
        let reports = read_all(&IllumosDialect, &case.text);
        let got: Vec<&str> = reports.iter().map(|r| r.title.as_str()).collect();
        if got != case.titles {
            failures.push(format!("{}: want {:?} got {:?}", case.path.display(), case.titles, got));
            continue;
        }
        if let Some(first) = reports.first()
            && first.corrupted != case.corrupted
        {
            failures.push(format!("{}: corrupted {} want {}", case.path.display(), first.corrupted, case.corrupted));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_are_detected_as_illumos() {
    for case in cases() {
        assert_eq!(
            detect_os(&case.text, &rig::guest_os::dialects()),
            Some(IllumosDialect.os()),
            "{}",
            case.path.display()
        );
    }
}

#[test]
fn chunking_does_not_change_the_reading() {
    for case in cases() {
        let whole: Vec<String> = read_all(&IllumosDialect, &case.text).into_iter().map(|r| r.title).collect();
        for size in [1usize, 3, 7, 64, 4093] {
            let mut reader = CrashReader::new(&IllumosDialect);
            let mut events = Vec::new();
            for chunk in case.text.chunks(size) {
                events.extend(reader.feed(chunk));
            }
            events.extend(reader.flush());
            let started = events.iter().filter(|e| matches!(e, Event::CrashStarted { .. })).count();
            let titles: Vec<String> = events
                .into_iter()
                .filter_map(|e| match e {
                    Event::CrashComplete(r) => Some(r.title),
                    Event::CrashStarted { .. } => None,
                })
                .collect();
            assert_eq!(titles, whole, "{} in chunks of {size}", case.path.display());
            assert_eq!(started, titles.len(), "{}: every report was announced", case.path.display());
        }
    }
}

#[test]
fn seed_stack_and_signature() {
    let case = cases().into_iter().find(|c| c.path.ends_with("os-7410-seed")).expect("seed fixture");
    let r = &read_all(&IllumosDialect, &case.text)[0];
    let sig = r.fingerprint();
    assert_eq!(sig.title, "assertion failed: !zsd->vz_active in vmm_zsd_destroy");
    assert_eq!(&sig.frames[..3], ["genunix:process_type", "vmm:vmm_zsd_destroy", "genunix:zsd_apply_destroy"]);
    assert!(r.message.ends_with("line: 162"));
}

/// To the engine, every report under a `panic[cpuN]/thread=` banner is a kernel panic, whatever
/// its kind (a BAD TRAP, a mutex panic, a deadman, heap corruption: each panics the machine);
/// savecore's `reboot after panic` line on the next boot records a past panic and is not one.
#[test]
fn every_banner_panic_is_fatal_and_a_savecore_record_is_not() {
    let mut banners = 0;
    for case in cases() {
        for r in read_all(&IllumosDialect, &case.text) {
            let banner = r.text.lines().any(|l| l.contains("panic[cpu") && l.contains("/thread="));
            if banner {
                banners += 1;
                assert!(IllumosDialect.is_fatal(&r), "{}: {:?} '{}' is a panic", case.path.display(), r.kind, r.title);
            }
        }
    }
    assert!(banners >= 10, "only {banners} banner panics in the fixtures");
    let record = "Nov 29 16:45:02 headnode savecore: [ID 570001 auth.error] reboot after panic: BAD TRAP: type=e (#pf Page \
                  fault) rp=fffffe00f0f4c8f0 addr=0 occurred in module \"genunix\" due to a NULL pointer dereference\n";
    let r = &read_all(&IllumosDialect, record.as_bytes())[0];
    assert!(!IllumosDialect.is_fatal(r), "{r:#?}");
}
