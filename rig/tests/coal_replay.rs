//! The coal console path without a guest: recorded illumos console text (written from the
//! docs, `rig/testdata/coal/console-*.txt`) replayed with serial timing through a socket pair
//! into a real console task, read by setup detection (the engine's first-boot wait), the illumos
//! profile's ready pattern,
//! the crash reader (fed as the panic watcher feeds it) and the savecore recogniser.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rig::console::{Console, Pattern};
use rig::crash::{CrashKind, CrashReader, Event};
use rig::guest_os::illumos::ILLUMOS;
use rig::guest_os::illumos::IllumosDialect;
use rig::guest_os::illumos::coal::savecore::{self, SavecoreLine};
use rig::guest_os::illumos::coal::setup::{SetupProgress, Stage};
use tokio::net::UnixStream;
use tokio::time::Instant;

// A test fixture: kept out of the library.
#[path = "common/replay.rs"]
mod replay;
use replay::{chunks, play};

/// Replay speed: the scripts' pauses and the wire time, ten times faster.
const SPEED: f64 = 10.0;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-coal-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn script(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/coal").join(name)).unwrap()
}

/// A console task on one end of a socket pair, the replay on the other.
fn replay(dir: &Path, name: &str) -> (Console, Instant, tokio::task::JoinHandle<UnixStream>) {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let start = Instant::now();
    let con = Console::spawn("ttyS1", ours, dir, start).unwrap();
    let ch = chunks(&script(name), SPEED);
    let player = tokio::spawn(async move {
        play(&mut theirs, &ch).await.unwrap();
        theirs
    });
    (con, start, player)
}

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

#[tokio::test]
async fn setup_completes_after_the_login_prompt() {
    let dir = scratch("setup");
    let (con, _, player) = replay(&dir, "console-ttyb-setup.txt");
    // The engine's first-boot wait: the login prompts before setup's lines are not the end.
    let secs = rig::guest_os::illumos::coal::first_boot::wait_setup(&con, soon(30), &|_| {}).await.unwrap();
    assert_eq!(secs, 842);
    let _theirs = player.await.unwrap();

    let mut p = SetupProgress::default();
    let mut stages = Vec::new();
    for l in con.lines_since(0) {
        if let Some(rig::guest_os::illumos::coal::setup::SetupEvent::Stage { stage, .. }) = p.feed(&l.text)
            && stages.last() != Some(&stage)
        {
            stages.push(stage);
        }
    }
    assert_eq!(p.complete, Some(842));
    assert_eq!(p.boots, 2, "setup reboots once");
    assert_eq!(p.zones.len(), 22);
    assert_eq!(
        stages,
        [
            Stage::Loader,
            Stage::Kernel,
            Stage::Login,
            Stage::Pool,
            Stage::Volume,
            Stage::Reboot,
            Stage::Loader,
            Stage::Kernel,
            Stage::Login,
            // headnode.sh's first line, `preparing for setup...`
            Stage::Prepare,
            Stage::Zone
        ]
    );
    assert_eq!(p.line(), "coal setup: complete in 842 s (22 zones)");

    // The prompt was printed before setup's lines and not again: the console ends without one.
    let ready = Pattern::regex(ILLUMOS.ready.pattern()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ready.find(&con.partial()), None);
    let timed = std::fs::read_to_string(dir.join("ttyS1.timed.log")).unwrap();
    assert!(timed.contains("] ==> Setup complete (in 842 seconds). Press [enter]"), "{timed}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A zone's setup timeout on the console ends the first-boot wait at its fatal line, quoting the
/// zone's line and the fatal one and naming the stage, long before the setup deadline.
#[tokio::test]
async fn a_zone_setup_timeout_ends_setup_at_its_fatal_line() {
    let dir = scratch("fatal");
    let (con, start, player) = replay(&dir, "console-ttyb-setup-fatal.txt");
    let e = rig::guest_os::illumos::coal::first_boot::wait_setup(&con, soon(1800), &|_| {}).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let rig::guest_os::illumos::coal::first_boot::SetupStop::Failed { what, stage, lines } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(what, "zone imgapi: timeout");
    assert!(stage.contains("zone imgapi"), "{stage}");
    assert!(lines.iter().any(|l| l.starts_with("creating zone imgapi...") && l.ends_with("timeout")), "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("headnode configuration: fatal error: Failed to create imgapi: setup timed out after 181 seconds.")
    );
    let text = e.to_string();
    assert!(text.starts_with("coal setup failed during coal setup: boot 1, zones 2/~22, zone imgapi"), "{text}");
    drop(player);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn os7410_panic_dump_reboot_and_savecore() {
    let dir = scratch("panic");
    let (con, start, player) = replay(&dir, "console-ttyb-os7410.txt");
    // Fed as the engine's panic watcher feeds it: raw chunks as they arrive.
    let mut chunks_rx = con.subscribe();
    let reader = tokio::spawn(async move {
        let mut r = CrashReader::new(&IllumosDialect);
        let mut events = Vec::new();
        // As the watcher does: a quiet console (or a closed one) flushes the pending report.
        while let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(1), chunks_rx.recv()).await {
            events.extend(r.feed(&bytes).into_iter().map(|e| (Instant::now(), e)));
        }
        events.extend(r.flush().into_iter().map(|e| (Instant::now(), e)));
        events
    });
    let rebooting = con.wait_for(&Pattern::literal("rebooting..."), 0, soon(30)).await.unwrap();
    let next_boot = con.wait_for(&Pattern::literal("SunOS Release"), rebooting.cursor, soon(30)).await.unwrap();
    let theirs = player.await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = Pattern::regex(ILLUMOS.ready.pattern()).unwrap();
    assert_eq!(ready.find(&con.partial()).as_deref(), Some("headnode console login:"), "ready again after the reboot");
    drop(theirs);
    con.drain(Duration::from_secs(2)).await;
    let events = reader.await.unwrap();

    let started: Vec<_> = events.iter().filter(|(_, e)| matches!(e, Event::CrashStarted { .. })).collect();
    let reports: Vec<_> = events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::CrashComplete(r) => Some((t, r)),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 2, "the panic and savecore's `reboot after panic`: {events:?}");
    assert_eq!(reports.len(), 2, "{events:?}");
    let (at, panic) = reports[0];
    assert_eq!(panic.title, "assertion failed: !zsd->vz_active in vmm_zsd_destroy");
    assert_eq!(panic.kind, CrashKind::Assertion);
    assert!(!panic.corrupted);
    assert_eq!(panic.frames.len(), 8);
    assert!(panic.text.ends_with("100% done: 412346 pages dumped, dump succeeded"), "{}", panic.text);
    assert!(panic.text.contains("dumping:  0:01  37% done"), "the \\r progress rewrites are lines of the report");
    // Complete when the dump ended: before the next boot's banner reached the console.
    let banner = &con.lines_since(next_boot.cursor)[0];
    assert!(*at <= start + banner.t, "the report completed only after the next boot's banner");

    let (_, saved) = reports[1];
    assert_eq!(saved.title, "assertion failed: !zsd->vz_active", "savecore's line carries the message, no stack");
    assert!(saved.corrupted);

    let lines: Vec<SavecoreLine> = con.lines_since(0).iter().filter_map(|l| savecore::parse(&l.text)).collect();
    assert_eq!(
        lines,
        [
            SavecoreLine::RebootAfterPanic(
                "assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162".into()
            ),
            SavecoreLine::DumpTime("Thu Dec  6 01:30:12 2018".into()),
            SavecoreLine::Saving { path: "/var/crash/volatile/vmdump.0".into(), compressed: true },
            SavecoreLine::Decompress("savecore -vf /var/crash/volatile/vmdump.0".into()),
        ]
    );

    let mut p = SetupProgress::default();
    let halts: Vec<String> = con
        .lines_since(0)
        .iter()
        .filter_map(|l| match p.feed(&l.text) {
            Some(rig::guest_os::illumos::coal::setup::SetupEvent::Stage { stage: Stage::Reboot, detail }) => {
                Some(detail)
            }
            _ => None,
        })
        .collect();
    assert_eq!(halts, ["22", ""], "`reboot: Halting 22 zones.` then the panic's `rebooting...`");
    let _ = std::fs::remove_dir_all(&dir);
}
