//! Tests of the history database on temporary files: migrations, refusing bad files,
//! concurrent writers, idempotent recording, and the signature query's rates.

use std::path::{Path, PathBuf};

use super::record::{Recorded, image_key};
use super::schema::{APPLICATION_ID, LATEST};
use super::{History, path};
use crate::crash::read_all;
use crate::guest_os::linux::LinuxDialect;
use crate::results::fixture::{case_run, iteration, panic, report};
use crate::results::{Outcome, RunReport};

const TITLE: &str = "kernel BUG in vmm_zsd_destroy";

/// A Linux console with a `BUG_ON` in a module (also the CLI test's `triage --history` input).
const CONSOLE: &str = include_str!("../../testdata/linux/console-kernel-bug-vmm-zsd.txt");

/// A fresh directory under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-history-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A run of `case` on `image` with `ran` iterations, the first `hits` of them panicking.
fn run(run_dir: &str, case: &str, image: &str, hits: u32, ran: u32) -> RunReport {
    let crash = read_all(&LinuxDialect, CONSOLE.as_bytes()).pop().expect("the console has a crash");
    assert_eq!(crash.title, TITLE);
    let iterations = (1..=ran)
        .map(|index| {
            let mut it = iteration(index, if index <= hits { panic(TITLE) } else { Outcome::Completed });
            if let Outcome::Panic { report, .. } = &mut it.outcome {
                *report = Some(crash.clone());
            }
            it.evidence = format!("{run_dir}/{case}/boot-{index}");
            it
        })
        .collect();
    let mut c = case_run(image, iterations);
    (c.case, c.file) = (case.into(), format!("testcases/{case}.yaml"));
    RunReport { seed: u64::MAX - 1, run_dir: run_dir.into(), ..report(vec![c]) }
}

fn stamp_of(file: &Path) -> (u32, i32) {
    let c = rusqlite::Connection::open(file).unwrap();
    let s = super::schema::stamp(&c).unwrap();
    (s.version, s.application_id)
}

/// Asserts that opening `file` fails naming it and `why`, and leaves it byte-identical.
fn refused_untouched(file: &Path, why: &str) {
    let before = std::fs::read(file).unwrap();
    let err = format!("{:#}", History::open(file).err().expect("the file is refused"));
    assert!(err.contains(&file.display().to_string()) && err.contains(why), "{err}");
    assert_eq!(std::fs::read(file).unwrap(), before, "the refused file was modified");
    for side in ["-wal", "-shm", "-journal"] {
        let mut p = file.as_os_str().to_owned();
        p.push(side);
        assert!(!Path::new(&p).exists(), "{side} file left beside a refused database");
    }
}

#[test]
fn a_new_file_and_an_empty_one_migrate_from_version_0() {
    let d = temp_dir("migrate");
    let file = path(&d);
    History::open(&file).unwrap();
    assert_eq!(stamp_of(&file), (LATEST, APPLICATION_ID));
    // Opening again finds nothing to do.
    History::open(&file).unwrap().record(&run("/r/1", "zsd", "linux-debug", 1, 2), &d).unwrap();
    assert_eq!(History::open(&file).unwrap().recent_runs(10).unwrap().len(), 1);

    let empty = d.join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    History::open(&empty).unwrap();
    assert_eq!(stamp_of(&empty), (LATEST, APPLICATION_ID));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let d = temp_dir("newer");
    let file = path(&d);
    {
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute_batch("CREATE TABLE future (x)").unwrap();
        c.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        c.pragma_update(None, "user_version", LATEST + 1).unwrap();
    }
    refused_untouched(&file, "newer than this rig's");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn garbage_and_foreign_databases_are_refused_and_left_alone() {
    let d = temp_dir("garbage");
    let file = path(&d);
    std::fs::write(&file, "this is not a database, it is a shopping list\n".repeat(200)).unwrap();
    refused_untouched(&file, "not a usable rig history database");

    let foreign = d.join("foreign.sqlite");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE recipes (name TEXT)").unwrap();
    refused_untouched(&foreign, "another program");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn concurrent_writers_all_land() {
    let d = temp_dir("concurrent");
    let file = path(&d);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (file, d) = (file.clone(), d.clone());
            std::thread::spawn(move || {
                for i in 0..15 {
                    // A fresh connection each time, like separate rigs.
                    let mut h = History::open(&file).unwrap();
                    let r = run(&format!("/runs/{t}-{i}"), "zsd", "linux-debug", 1, 3);
                    assert_eq!(h.record(&r, &d).unwrap(), Recorded::New);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut h = History::open(&file).unwrap();
    assert_eq!(h.recent_runs(1000).unwrap().len(), 60);
    assert_eq!(h.sightings(TITLE).unwrap().unwrap().hits, 60);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn recording_a_run_again_replaces_it() {
    let d = temp_dir("idempotent");
    let run_dir = d.join("run-1");
    std::fs::create_dir_all(&run_dir).unwrap();
    crate::report::write(&run_dir, &run(&run_dir.display().to_string(), "zsd", "linux-debug", 2, 5)).unwrap();
    let mut h = History::open(&path(&d)).unwrap();
    let found = super::import::run_dirs(&d).unwrap();
    assert_eq!(found, vec![run_dir.clone()]);
    assert_eq!(h.import(&run_dir).unwrap(), Recorded::New);
    assert_eq!(h.import(&run_dir).unwrap(), Recorded::Replaced);
    let runs = h.recent_runs(10).unwrap();
    assert_eq!((runs.len(), runs[0].iterations, runs[0].panics), (1, 5, 2));
    assert_eq!(runs[0].titles, vec![TITLE.to_string()]);
    assert!(super::import::run_dirs(&run_dir.join("boot-1")).is_err(), "a missing directory is an error");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_merged_report_supersedes_its_shards() {
    let d = temp_dir("merged");
    let mut h = History::open(&path(&d)).unwrap();
    let mut shards = Vec::new();
    for k in 1..=2 {
        let mut s = run(&format!("/runs/shard-{k}"), "zsd", "linux-debug", 1, 2);
        s.shard = Some(format!("{k}/2"));
        let c = &mut s.runs[0];
        for it in &mut c.iterations {
            it.index += (k - 1) * 2;
        }
        c.assigned = c.iterations.iter().map(|i| i.index).collect();
        shards.push(s);
    }
    assert_eq!(h.record(&shards[0], &d).unwrap(), Recorded::New);
    let merged = crate::report::merge::merge(shards.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    h.record(&merged, &d).unwrap();
    assert_eq!(h.record(&shards[1], &d).unwrap(), Recorded::Superseded);
    let runs = h.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].run_dir.starts_with("merged from shards"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_signature_query_gives_rates_per_build() {
    let d = temp_dir("signature");
    let mut h = History::open(&path(&d)).unwrap();
    h.record(&run("/runs/a", "zsd-race", "linux-debug", 3, 10), &d).unwrap();
    h.record(&run("/runs/b", "zsd-race", "linux-debug", 2, 10), &d).unwrap();
    h.record(&run("/runs/c", "zsd-race", "linux-fixed", 0, 10), &d).unwrap();
    h.record(&run("/runs/d", "boot-smoke", "linux-fixed", 0, 4), &d).unwrap();

    assert_eq!(h.titles_matching("KERNEL bug in VMM_ZSD_DESTROY", true).unwrap(), vec![TITLE.to_string()]);
    assert_eq!(h.titles_matching("vmm_zsd", false).unwrap(), vec![TITLE.to_string()]);
    assert_eq!(h.titles_matching("zones:zone_destroy", false).unwrap(), vec![TITLE.to_string()], "by frame");
    assert!(h.titles_matching("vmm_zsd", true).unwrap().is_empty());

    let s = h.sightings(TITLE).unwrap().unwrap();
    assert_eq!(s.hits, 5);
    let hit_runs: Vec<_> = s.entries.iter().map(|e| (e.run_dir.as_str(), e.hits, e.ran)).collect();
    assert_eq!(hit_runs, vec![("/runs/a", 3, 10), ("/runs/b", 2, 10)]);
    let rates: Vec<_> = s.builds.iter().map(|b| (b.image.as_str(), b.hits, b.ran)).collect();
    assert_eq!(rates, vec![("linux-debug", 5, 20), ("linux-fixed", 0, 10)], "boot-smoke never hit it");
    assert_eq!(s.evidence.len(), 5);
    assert!(s.first_seen <= s.last_seen);
    let text = super::render::sightings(&s);
    assert!(text.contains("linux-debug: 5/20 (25.0%) in zsd-race"), "{text}");
    assert!(h.sightings("no such crash").unwrap().is_none());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_image_key_is_read_off_the_qemu_command_line() {
    let d = temp_dir("key");
    std::fs::write(
        d.join("qemu.cmdline"),
        "qemu-system-x86_64 -kernel /b/images/linux-debug-test-older-78834c5f70cdc62b/vmlinux \
         -kernel /b/images/linux-debug-2c99f560239fa7d2/vmlinux",
    )
    .unwrap();
    assert_eq!(image_key("linux-debug", Some(d.clone())).as_deref(), Some("2c99f560239fa7d2"));
    assert_eq!(image_key("coal-0123456789abcdef", None).as_deref(), Some("0123456789abcdef"));
    assert_eq!(image_key("linux-deb42", Some(d.clone())), None);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_interrupted_run_is_recorded_as_interrupted() {
    let d = temp_dir("interrupted");
    let file = path(&d);
    let mut r = run("/r/stopped", "zsd", "linux", 0, 1);
    // What a campaign says when Ctrl-C, SIGTERM or SIGHUP stops it.
    r.stopped_early = Some(crate::results::StopReason::Interrupted);
    History::open(&file).unwrap().record(&r, &d).unwrap();
    let runs = History::open(&file).unwrap().recent_runs(10).unwrap();
    assert_eq!(runs[0].exit_code, 130, "{:?}", runs[0].exit_code);
    let _ = std::fs::remove_dir_all(&d);
}
