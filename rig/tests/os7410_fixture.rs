//! The OS-7410 fixture on real guests (QEMU, TCG): the `linux-os7410-debug` and
//! `linux-os7410-fixed` images, their zones/vmm modules and the race, driven over SSH.
//!
//! One guest per build: the debug one must panic with `kernel BUG in vmm_zsd_destroy`
//! within [`ITERATIONS`] iterations of `/usr/lib/rig/os7410-iteration.sh`; the fixed one must
//! survive all of them.

mod common;

use std::time::Duration;

use rig::crash;
use rig::guest::Guest;
use rig::guest_os::linux::LINUX;
use rig::guest_os::linux::LinuxDialect;
use rig::guest_os::linux::image::LinuxImage;
use tokio::time::Instant;

/// Iterations the debug build must panic within, and the fixed build must survive.
/// The debug build panics in ~3 of 4 iterations, so 8 misses happen about once in 10^5 runs.
const ITERATIONS: u32 = 8;
/// One iteration takes a few seconds; this bounds a stuck one.
const ITERATION_TIMEOUT: Duration = Duration::from_secs(90);
/// One iteration of the race with three zones, as the engine runs it.
const ITERATION: &str = "/usr/lib/rig/os7410-iteration.sh 3";
const SHORT: Duration = Duration::from_secs(20);

fn image(name: &str) -> LinuxImage {
    common::require_qemu();
    rig::guest_os::linux::image::ensure_image(&common::build_dir(), name)
        .unwrap_or_else(|e| panic!("building image {name}: {e:#}"))
}

async fn boot(image: &LinuxImage, evidence: &str) -> Guest {
    let spec = common::epyc_machine(image);
    let keys = image.ssh_keys();
    let dir = common::evidence_dir(evidence);
    let guest = Guest::launch(spec, LINUX, keys, &dir).await.unwrap();
    guest.wait_ready(Instant::now() + Duration::from_secs(120)).await.unwrap();
    guest
}

/// How an iteration ended.
#[derive(Debug)]
enum Iteration {
    /// The script's summary line.
    Survived(String),
    /// QMP reported GUEST_PANICKED.
    Panicked,
}

async fn iteration(guest: &Guest, cmd: &str) -> Iteration {
    let events = guest.qmp().event_cursor();
    let deadline = Instant::now() + ITERATION_TIMEOUT;
    tokio::select! {
        out = guest.run(cmd, ITERATION_TIMEOUT) => {
            match out {
                Ok(line) => Iteration::Survived(line.trim().to_string()),
                // The SSH channel can die before the QMP event is read: give it a moment.
                Err(e) => match guest.qmp().wait_event("GUEST_PANICKED", events, Instant::now() + SHORT).await {
                    Ok(_) => Iteration::Panicked,
                    Err(_) => panic!("iteration failed: {e:#}\nconsole:\n{}", guest.console().tail(40).join("\n")),
                },
            }
        }
        ev = guest.qmp().wait_event("GUEST_PANICKED", events, deadline) => {
            ev.unwrap_or_else(|e| panic!("no iteration result and no panic: {e}"));
            Iteration::Panicked
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_build_loads_modules_walks_zone_states_and_survives_the_race() {
    let image = image("linux-os7410-fixed");
    let guest = boot(&image, "os7410-fixed").await;
    let run = |cmd: &'static str| guest.run(cmd, SHORT);

    // zones.ko is loaded at boot; vmm.ko loads and unloads, pulling zones.ko in as a dependency.
    assert_eq!(run("cat /etc/os7410-build").await.unwrap().trim(), "fixed");
    assert!(run("cat /proc/modules").await.unwrap().contains("zones "));
    run("modprobe vmm").await.unwrap();
    assert!(run("cat /proc/modules").await.unwrap().contains("vmm "));
    run("rmmod vmm").await.unwrap();
    assert!(!run("cat /proc/modules").await.unwrap().contains("vmm "));

    // A zone's life, observed through /proc/zones, with a long drain to catch EMPTY.
    run("echo 3000 >/sys/module/zones/parameters/drain_ms").await.unwrap();
    run("modprobe vmm && zoneadm -z z1 create").await.unwrap();
    let status = |list: String| {
        list.lines().find(|l| l.contains(" z1 ")).map(|l| l.split_whitespace().nth(1).unwrap().to_string())
    };
    assert_eq!(status(run("zoneadm list").await.unwrap()).as_deref(), Some("ready"));
    run("zoneadm -z z1 boot").await.unwrap();
    let list = run("zoneadm list").await.unwrap();
    assert_eq!(status(list.clone()).as_deref(), Some("running"));
    // vmm's key is there, created (ZSD_CREATE_COMPLETED = 0x4).
    assert!(list.lines().any(|l| l.contains(" z1 ") && l.ends_with(":0x4")), "{list}");
    run("zoneadm -z z1 halt").await.unwrap();
    let list = run("zoneadm list").await.unwrap();
    // Shutdown callbacks done (0x40), destroy pending: the OS-7410 window.
    assert_eq!(status(list.clone()).as_deref(), Some("empty"), "{list}");
    assert!(list.contains(":0x44"), "{list}");
    assert!(run("zoneadm -z z1 destroy").await.is_err(), "destroying a halting zone must fail");
    run("zoneadm -z z1 wait").await.unwrap();
    let list = run("zoneadm list").await.unwrap();
    assert_eq!(status(list.clone()).as_deref(), Some("dead"), "{list}");
    assert!(list.contains(":0x444"), "{list}");
    run("zoneadm -z z1 destroy && rmmod vmm").await.unwrap();
    assert_eq!(status(run("zoneadm list").await.unwrap()), None);
    let console = guest.console().tail(200).join("\n");
    for state in ["shutting_down", "empty", "down", "dying", "dead"] {
        assert!(console.contains(&format!("zone 1 (z1) is {state}")), "no {state} on the console");
    }
    run("echo 300 >/sys/module/zones/parameters/drain_ms").await.unwrap();

    // The race: every iteration survives.
    let began = Instant::now();
    for i in 1..=ITERATIONS {
        match iteration(&guest, ITERATION).await {
            Iteration::Survived(line) => eprintln!("fixed {i}: {line} ({:.1?})", began.elapsed()),
            Iteration::Panicked => {
                panic!("the fixed build panicked in iteration {i}:\n{}", guest.console().tail(60).join("\n"))
            }
        }
    }
    guest.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_build_panics_in_vmm_zsd_destroy_under_the_race() {
    let image = image("linux-os7410-debug");
    let guest = boot(&image, "os7410-debug").await;
    assert_eq!(guest.run("cat /etc/os7410-build", SHORT).await.unwrap().trim(), "debug");

    let began = Instant::now();
    let mut panicked_at = None;
    for i in 1..=ITERATIONS {
        match iteration(&guest, ITERATION).await {
            Iteration::Survived(line) => eprintln!("debug {i}: {line} ({:.1?})", began.elapsed()),
            Iteration::Panicked => {
                eprintln!("debug {i}: panic ({:.1?})", began.elapsed());
                panicked_at = Some(i);
                break;
            }
        }
    }
    assert!(panicked_at.is_some(), "no panic in {ITERATIONS} iterations of the debug build");

    // The panic text is on the serial console, in illumos' words and Linux's.
    guest.console().drain(Duration::from_secs(2)).await;
    let log = std::fs::read(guest.dir().join("ttyS0.log")).unwrap();
    let text = String::from_utf8_lossy(&log);
    for want in [
        "assertion failed: !zsd->vz_active, file: vmm.c, line:",
        "kernel BUG at vmm.c:",
        "vmm_zsd_destroy",
        "zsd_apply_destroy",
        "zone_zsd_callbacks",
        "zone_destroy",
        "Kernel panic - not syncing",
    ] {
        assert!(text.contains(want), "console lacks {want:?}:\n{}", guest.console().tail(60).join("\n"));
    }
    let reports = crash::read_all(&LinuxDialect, &log);
    let titles: Vec<&str> = reports.iter().map(|r| r.title.as_str()).collect();
    assert!(titles.contains(&"kernel BUG in vmm_zsd_destroy"), "crash titles: {titles:?}");
    guest.kill().await;
}
