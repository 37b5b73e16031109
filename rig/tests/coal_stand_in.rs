//! The coal stand-in (`rig::guest_os::illumos::coal::stand_in`): a small disk image shaped like a coal USB image
//! whose Linux userland behaves like a coal headnode as the rig sees it. These tests build it,
//! prepare it with the rig's own `rig::guest_os::illumos::coal::prepare`, and boot it for real under TCG through
//! the rig's `Guest`: setup with its reboot, the login prompt on ttyb, SSH with the prepared
//! image's key, and the illumos commands the rig runs.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::pace::Pace;
use rig::console::Pattern;
use rig::guest::{Guest, SshKeys};
use rig::guest_os::illumos::ILLUMOS;
use rig::guest_os::illumos::coal::era::{BootConfig, Table};
use rig::guest_os::illumos::coal::fat::FatFs;
use rig::guest_os::illumos::coal::stand_in::{StandIn, ensure_stand_in};
use rig::guest_os::illumos::coal::{CoalImage, PrepareOptions, prepare};
use rig::machine::{Accel, cpu};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// The platforms the stand-in's keys ship: the loader-era key's (2023) and the GRUB-era key's.
const LOADER_PI: &str = rig::guest_os::illumos::coal::stand_in::recipe::LOADER_PLATFORM;
const GRUB_PI: &str = rig::guest_os::illumos::coal::stand_in::recipe::GRUB_PLATFORM;

/// The stand-in, built once per test process (a cache hit after the first build).
fn stand_in() -> StandIn {
    static S: OnceLock<StandIn> = OnceLock::new();
    S.get_or_init(|| {
        common::require_qemu();
        ensure_stand_in(&common::build_dir()).expect("building the coal stand-in")
    })
    .clone()
}

/// A fresh build directory for one preparation.
fn scratch_build_dir(name: &str) -> PathBuf {
    let d = common::build_dir().join("test-runs").join(format!("stand-in-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fingerprint(p: &Path) -> (String, std::time::SystemTime) {
    let h = Sha256::digest(std::fs::read(p).unwrap());
    (h.iter().map(|b| format!("{b:02x}")).collect(), std::fs::metadata(p).unwrap().modified().unwrap())
}

fn read(img: &Path, inner: &str) -> String {
    String::from_utf8(FatFs::open(img).unwrap().read(inner).unwrap()).unwrap()
}

fn remove(dir: &Path) {
    for e in walk(dir) {
        let _ = std::fs::set_permissions(&e, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn builds_and_prepare_accepts_each_era_with_the_platforms_that_can_mount_it() {
    let s = stand_in();
    let again = ensure_stand_in(&common::build_dir()).unwrap();
    assert_eq!(again.dir, s.dir, "a second build is a cache hit");
    let before = fingerprint(&s.tarball);

    // The loader-era key: GPT read back by the rig (root on partition 3), its own 2023 platform.
    let build = scratch_build_dir("prepare");
    let plain = prepare(&PrepareOptions::new(s.tarball.clone(), None, build.clone())).unwrap();
    assert_eq!(plain.platform, LOADER_PI);
    let key = plain.manifest.key.expect("the key's shape is recorded");
    assert_eq!((key.table, key.root_partition, key.boot), (Table::Gpt, 3, BootConfig::LoaderConf));
    assert_eq!(plain.manifest.source_entry.as_deref().map(|e| e.ends_with("/coal-stand-in-8gb.img")), Some(true));
    let conf = read(&plain.usb_base, "boot/loader.conf");
    assert!(conf.contains("os_console=\"ttyb\"") && conf.contains("autoboot_delay=\"2\""), "{conf}");
    assert!(conf.contains("loader_brand=\"triton\""), "the image's own keys are kept: {conf}");
    assert!(!conf.contains("platform-version"), "{conf}");
    let answers = read(&plain.usb_base, "private/answers.json");
    assert!(answers.contains("\"admin_nic\": \"00:50:56:34:60:4c\""), "{answers}");
    assert!(read(&plain.usb_base, "config.inc/root.authorized_keys").starts_with("ssh-ed25519 "));
    assert!(read(&plain.usb_base, "syslinux.cfg").contains("KERNEL /standin/vmlinuz"));
    // Its boot code is syslinux's gptmbr.bin (it boots the legacy-BIOS-bootable partition 3).
    // (`!GPT` is the hand-over signature it passes to the partition's boot sector.)
    let disk = std::fs::read(&plain.usb_base).unwrap();
    assert!(disk[..440].windows(4).any(|w| w == b"!GPT"), "gptmbr.bin in the MBR");
    assert_eq!((&disk[512..520], disk[446 + 4]), (&b"EFI PART"[..], 0xee));
    assert_eq!(disk[1024 + 2 * 128 + 48] & 4, 4, "partition 3 is legacy-BIOS-bootable");

    // The 2018 DEBUG platforms cannot mount it: refused before any boot, naming both stamps.
    for platform in [&s.debug_buggy_platform, &s.debug_fixed_platform] {
        let e = prepare(&PrepareOptions::new(s.tarball.clone(), Some(platform.clone()), build.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot mount this key: loader era key (GPT, pcfs root on partition 3"), "{e}");
        assert!(e.contains(&format!("(made with platform {LOADER_PI})")) && e.contains("Bring a GRUB-era coal"), "{e}");
    }

    // The GRUB-era key takes them (the bug's era): MBR, root on partition 1, menu.lst edited.
    for (platform, pi, unix) in [
        (&s.debug_buggy_platform, "20181206T011455Z", "DEBUG=1 OS7410_FIXED=0"),
        (&s.debug_fixed_platform, "20181220T002335Z", "DEBUG=1 OS7410_FIXED=1"),
    ] {
        let img = prepare(&PrepareOptions::new(s.grub_tarball.clone(), Some(platform.clone()), build.clone())).unwrap();
        assert_eq!(img.platform, pi);
        assert_eq!(img.manifest.platforms_on_image, [GRUB_PI]);
        let key = img.manifest.key.expect("the key's shape is recorded");
        assert_eq!((key.table, key.root_partition, key.boot), (Table::Mbr, 1, BootConfig::GrubMenu));
        let menu = read(&img.usb_base, "boot/grub/menu.lst");
        assert!(menu.contains(&format!("kernel$ /os/{pi}/platform/i86pc/kernel/amd64/unix -k -B")), "{menu}");
        let text = read(&img.usb_base, &format!("os/{pi}/platform/i86pc/kernel/amd64/unix"));
        assert!(text.contains(unix), "{text}");
        assert_ne!(img.dir, plain.dir);
    }
    assert_eq!(fingerprint(&s.tarball), before, "prepare modified the stand-in's tarball");
    remove(&build);
}

/// Boots a prepared stand-in.
async fn boot(img: &CoalImage, name: &str) -> (Guest, PathBuf) {
    let dir = common::evidence_dir(name);
    let spec = img.machine(cpu::lookup("epyc").unwrap(), Accel::Tcg, 6144, 2);
    let keys = SshKeys { client_key: img.client_key.clone(), host_key: img.dir.join("host_key.pub") };
    let guest = Guest::launch(spec, ILLUMOS, keys, &dir).await.unwrap();
    (guest, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_boot_runs_setup_with_a_reboot_then_answers_ssh() {
    let _slot = common::heavy_guest_slot().await;
    let pace = common::pace::measured().await;
    let s = stand_in();
    let build = scratch_build_dir("boot");
    let img = prepare(&PrepareOptions::new(s.tarball.clone(), None, build.clone())).unwrap();
    let began = Instant::now();
    let (guest, dir) = boot(&img, "stand-in-setup").await;
    let con = guest.console();
    // Generous for a quiet 2-core host, and scaled by how loaded the host is now.
    let deadline = Instant::now() + pace.secs(900);
    let wait = |p: &str| Pattern::regex(p).unwrap();

    // First boot: the loader and kernel banner, the pool, and a real reboot.
    let m = con.wait_for(&wait(r"^SunOS Release 5\.11 Version (\S+) 64-bit"), 0, deadline).await.unwrap();
    assert_eq!(m.capture, format!("joyent_{LOADER_PI}"));
    let m = con.wait_for(&wait(r"^creating pool: (zones)\s+done$"), m.cursor, deadline).await.unwrap();
    let m = con.wait_for(&wait(r"^adding volume: (dump)\s+done$"), m.cursor, deadline).await.unwrap();
    let m = con.wait_for(&wait(r"^(rebooting)\.\.\.$"), m.cursor, deadline).await.unwrap();
    // Second boot: the banner again, the zones, setup complete; the engine's own wait.
    let m = con.wait_for(&wait(r"^(Consoles:)"), m.cursor, deadline).await.unwrap();
    let m =
        con.wait_for(&wait(r"^creating zone (sdc-docker)\.\.\.\s+done \(\d+s\)$"), m.cursor, deadline).await.unwrap();
    let secs = rig::guest_os::illumos::coal::first_boot::wait_setup(con, deadline, &|_| {}).await.unwrap();
    // Setup's own count is the real time it took: positive, and no more than the rig watched.
    assert!(secs >= 1 && secs <= began.elapsed().as_secs() + 1, "setup took {secs} s by its own count");
    assert!(con.cursor() > m.cursor);
    let boot = guest.link().wait_ssh_ready(deadline).await.unwrap();
    eprintln!("setup and second boot: ready after {:.1} s", began.elapsed().as_secs_f64());

    let log = std::fs::read_to_string(dir.join("ttyS1.log")).unwrap();
    assert_eq!(log.matches("SunOS Release 5.11").count(), 2, "one reboot during setup:\n{log}");
    assert_eq!(log.matches("creating zone ").count(), 22);
    // The login prompt comes before setup's lines on each setup boot, and not after them.
    assert_eq!(log.matches("headnode console login: ").count(), 2, "{log}");
    assert!(log.rfind("headnode console login: ") < log.find("preparing for setup"), "{log}");
    assert!(log.trim_end().ends_with("Press [enter] to get login prompt."), "{log}");
    // hma's refusal (TCG has no NRIP save) is in the system log, not on the console.
    assert!(!log.contains("hma_svm_init"), "{log}");
    let dmesg = guest.run("dmesg", Duration::from_secs(30)).await.unwrap();
    assert!(dmesg.contains("hma_svm_init: CPU does not support NRIP save"), "{dmesg}");
    assert!(log.contains("Loading kmdb..."), "the rig's loader.conf asks for kmdb");
    let linux = std::fs::read_to_string(dir.join("ttyS0.log")).unwrap();
    assert!(!linux.contains("SunOS"), "the illumos text goes to ttyb only");

    // SSH as root with the prepared image's key; the host key was trusted on first use.
    assert!(img.dir.join("host_key.pub").is_file());
    let bt = guest.run("kstat -p unix:0:system_misc:boot_time", Duration::from_secs(30)).await.unwrap();
    let (name, value) = bt.trim().split_once('\t').expect("kstat -p: name<TAB>value");
    assert_eq!(name, "unix:0:system_misc:boot_time");
    assert_eq!(value, boot.boot_id, "the rig's boot identity is kstat's boot_time");
    let modinfo = guest.run("modinfo", Duration::from_secs(30)).await.unwrap();
    assert!(modinfo.starts_with(" Id Loadaddr   Size Info Rev Module Name\n"), "{modinfo}");
    let vmm_id = guest.run("modinfo | awk '$6 == \"vmm\" {print $1}'", Duration::from_secs(30)).await.unwrap();
    assert_eq!(vmm_id.trim(), "271");
    let zones = guest.run("vmadm list -H -o uuid state=running | wc -l", Duration::from_secs(30)).await.unwrap();
    assert_eq!(zones.trim(), "22");

    guest.shutdown().await;
    remove(&build);
}

/// A deadline for one phase of a test, named so that a failure says which phase stalled.
struct Phase {
    name: &'static str,
    deadline: Instant,
}

impl Phase {
    /// A phase that takes at most `quiet` seconds on a quiet machine, scaled by the pace.
    fn start(name: &'static str, quiet: u64, pace: Pace) -> Phase {
        Phase { name, deadline: Instant::now() + pace.secs(quiet) }
    }

    /// Unwraps a wait of this phase, or fails naming the phase and the evidence directory.
    fn check<T, E: std::fmt::Display>(&self, r: Result<T, E>, dir: &Path) -> T {
        r.unwrap_or_else(|e| panic!("phase '{}' did not finish: {e}\nevidence: {}", self.name, dir.display()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buggy_debug_platform_panics_with_os7410_dumps_and_savecore_saves_it() {
    let _slot = common::heavy_guest_slot().await;
    let pace = common::pace::measured().await;
    let s = stand_in();
    let build = scratch_build_dir("os7410");
    // The bug's era: the GRUB-era key (a 2018 platform cannot mount the loader-era one).
    let img =
        prepare(&PrepareOptions::new(s.grub_tarball.clone(), Some(s.debug_buggy_platform.clone()), build.clone()))
            .unwrap();
    let began = Instant::now();
    let (guest, dir) = boot(&img, "stand-in-os7410").await;
    // Setup: the first boot (the login prompt comes before setup's lines), its reboot, the
    // zones, `Setup complete`; then SSH.
    let setup = Phase::start("setup (first boot, reboot, zones)", 600, pace);
    setup.check(
        rig::guest_os::illumos::coal::first_boot::wait_setup(guest.console(), setup.deadline, &|_| {}).await,
        &dir,
    );
    let first = setup.check(guest.link().wait_ssh_ready(setup.deadline).await, &dir);
    let t = Duration::from_secs(30);
    // kmdb is loaded: without nopanicdebug the panic would stop at its prompt.
    guest.run("echo 'nopanicdebug/W 1' | mdb -kw", t).await.unwrap();
    let out = guest.run("echo 'moddebug/W 80000000' | mdb -kw", t).await.unwrap();
    assert_eq!(out, "moddebug:       0               =       0x80000000\n");

    // The OS-7410 recipe: reload vmm in a loop (the profile's own reload command) while zones halt.
    let reload = ILLUMOS.module("vmm").unwrap().command(rig::machine::Vendor::Amd);
    let loop_cmd = format!(
        "cat >/tmp/reload.sh <<'EOF'\nwhile :; do {reload}; done\nEOF\nsetsid sh /tmp/reload.sh </dev/null >/dev/null 2>&1 &"
    );
    guest.run(&loop_cmd, t).await.unwrap();
    let con = guest.console();
    let from = con.cursor();
    let panic_re = Pattern::regex(r"^panic\[cpu\d+\]/thread=\S+: (.*)$").unwrap();
    let link = guest.link();
    let halts = tokio::spawn(async move {
        for _ in 0..10 {
            let cmd = "for z in $(vmadm list -H -o uuid state=running | head -4); do vmadm stop $z -F & done; wait; \
                       for z in $(vmadm list -H -o uuid state=stopped); do vmadm start $z; done";
            if link.run(cmd, Duration::from_secs(60)).await.is_err() {
                return; // the connection died with the guest
            }
        }
    });
    let race = Phase::start("race (reloads against zone halts, until the panic)", 300, pace);
    let m = race.check(con.wait_for(&panic_re, from, race.deadline).await, &dir);
    assert_eq!(m.capture, "assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162");
    halts.abort();
    let dump = Phase::start("dump (stack, dump to the zvol, rebooting)", 120, pace);
    for want in
        [r"vmm:vmm_zsd_destroy\+e8 \(\)", r"^dumping to /dev/zvol/dsk/zones/dump", r"dump succeeded$", r"^rebooting"]
    {
        dump.check(con.wait_for(&Pattern::regex(want).unwrap(), m.cursor, dump.deadline).await, &dir);
    }
    let reboot = Phase::start("reboot (the boot after the panic, to savecore's line)", 300, pace);
    let saving =
        Pattern::regex(r"savecore: \[ID \d+ auth.error\] Saving compressed system crash dump in (\S+)$").unwrap();
    let saved = reboot.check(con.wait_for(&saving, m.cursor, reboot.deadline).await, &dir);
    let savecore = Phase::start("savecore (SSH back after the reboot)", 180, pace);
    let second = savecore
        .check(guest.wait_boot_checked(saved.cursor, Some(&first.boot_id), began, savecore.deadline).await, &dir);
    assert_ne!(second.boot_id, first.boot_id);
    let log = std::fs::read_to_string(dir.join("ttyS1.log")).unwrap();
    assert!(log.contains("installing vmm, module id 271."), "moddebug lines on the console");
    assert!(!log.contains("reboot after panic"), "savecore's reboot line goes to the log only");
    assert_eq!(log.matches("Setup complete").count(), 1, "setup runs once");

    let messages = guest.run("cat /var/adm/messages", t).await.unwrap();
    assert!(messages.contains("reboot after panic: assertion failed: !zsd->vz_active"), "{messages}");

    // The rig's own triage commands: newest dump (once savecore finished), savecore -vf, mdb.
    let newest = guest.run(&rig::guest_os::illumos::coal::savecore::newest_dump_command(), t).await.unwrap();
    assert_eq!(newest.trim(), saved.capture);
    let mdb =
        guest.run(&rig::guest_os::illumos::coal::savecore::triage_command(newest.trim()).unwrap(), t).await.unwrap();
    assert!(mdb.contains("operating system: 5.11 joyent_20181206T011455Z (i86pc)"), "{mdb}");
    assert!(mdb.contains("panic message: assertion failed: !zsd->vz_active"), "{mdb}");
    assert!(mdb.contains("vmm_zsd_destroy+0xe8("), "{mdb}");
    guest.shutdown().await;
    remove(&build);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answers_file_missing_a_key_stops_setup_at_its_question() {
    let _slot = common::heavy_guest_slot().await;
    let s = stand_in();
    let build = scratch_build_dir("question");
    let img = prepare(&PrepareOptions::new(s.tarball.clone(), None, build.clone())).unwrap();
    // Drop one prompted key from the prepared key's answers.json (the overlay is still empty).
    let usb = writable_usb(&img);
    let fat = FatFs::open(&usb).unwrap();
    let json = String::from_utf8(fat.read("private/answers.json").unwrap()).unwrap();
    let cut: String =
        json.lines().filter(|l| !l.contains("\"datacenter_location\"")).map(|l| format!("{l}\n")).collect();
    assert_ne!(cut, json);
    fat.write("private/answers.json", cut.as_bytes()).unwrap();
    fat.close().unwrap();

    let (guest, _dir) = boot(&img, "stand-in-question").await;
    // The engine's first-boot wait: a question ends it, long before the deadline.
    let e = rig::guest_os::illumos::coal::first_boot::wait_setup(
        guest.console(),
        Instant::now() + Duration::from_secs(600),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        rig::guest_os::illumos::coal::first_boot::SetupStop::Question {
            question: "Enter the City and State for this datacenter:".into(),
            key: Some("datacenter_location")
        }
    );
    guest.kill().await;
    remove(&build);
}

/// The prepared key's raw image, made writable for a test to change before the first boot (the
/// overlay is still empty).
fn writable_usb(img: &CoalImage) -> PathBuf {
    let usb = img.dir.join("usb.img");
    std::fs::set_permissions(&usb, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    usb
}

/// Writes `lines` as the stand-in's setup-failure switch (`/standin/setup-fail`: one failure per
/// run of headnode.sh, in order) on a prepared key whose overlay is still empty.
fn make_setup_fail(img: &CoalImage, lines: &str) {
    let fat = FatFs::open(&writable_usb(img)).unwrap();
    fat.write("standin/setup-fail", lines.as_bytes()).unwrap();
    fat.close().unwrap();
}

/// Runs a one-iteration case on `img` through the engine; returns the report, the boot's
/// serial log with the guest's seconds, and how long the run took.
async fn run_setup(img: &CoalImage, build: &Path, label: &str, pace: Pace) -> (rig::results::RunReport, String, f64) {
    let image = img.dir.file_name().unwrap().to_string_lossy().into_owned();
    let case = common::case(
        label,
        &format!(
            "name: {label}\nguest: {{ image: {image}, memory_mib: 6144, vcpus: 2 }}\niterations: 1\n\
             deadlines: {{ boot_secs: {}, iteration_secs: 60 }}\nsteps:\n  - ssh: 'true'\n",
            pace.secs(300).as_secs()
        ),
    );
    let run_dir = common::evidence_dir(label);
    let plan = rig::engine::campaign::Plan::new(
        vec![case],
        vec![cpu::lookup("epyc").unwrap()],
        Accel::Tcg,
        build.to_path_buf(),
        run_dir.clone(),
    );
    let began = Instant::now();
    let r = rig::engine::campaign::run(&plan, &mut |_| {}).await;
    let took = began.elapsed().as_secs_f64();
    let timed = walk(&run_dir).into_iter().find(|p| p.ends_with("boot-1/ttyS1.timed.log")).expect("boot-1's console");
    (r, std::fs::read_to_string(timed).unwrap(), took)
}

/// The reason of a run's infra verdict (its boot's, or its first iteration's).
fn infra_reason(run: &rig::results::CaseRun) -> String {
    match (&run.not_run, run.iterations.first().map(|i| &i.outcome)) {
        (Some(rig::results::Outcome::Infra { reason }), _) | (_, Some(rig::results::Outcome::Infra { reason })) => {
            reason.clone()
        }
        other => panic!("{}: expected an infra verdict, got {other:#?}", run.image),
    }
}

/// The guest's second (since QEMU started) at the first line holding `text`.
fn seconds_at(timed: &str, text: &str) -> f64 {
    let line = timed.lines().find(|l| l.contains(text)).unwrap_or_else(|| panic!("no {text:?} in:\n{timed}"));
    line.trim_start_matches('[').split(']').next().unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_made_to_fail_ends_within_a_minute_of_the_line_as_infra_quoting_it() {
    // headnode.sh's two ways to fail, on one headnode: its first setup run times out creating
    // imgapi (then its fatal line), the next (the same disks, booted again) ends at a fatal line
    // of its own, and the third panics the kernel during setup. Each run goes through the engine
    // and is infra (exit 3), quoting the console and naming the setup stage (or the panic's
    // title), within a minute of the fatal line, not at the boot deadline.
    let _slot = common::heavy_guest_slot().await;
    let pace = common::pace::measured().await;
    let s = stand_in();
    let build = scratch_build_dir("setup-fail");
    let img = prepare(&PrepareOptions::new(s.grub_tarball.clone(), None, build.clone())).unwrap();
    make_setup_fail(&img, "zone imgapi timeout\nfatal No agents-*.sh found!\npanic kernel heap corruption detected\n");
    let fatal = "headnode configuration: fatal error:";
    let panicked = "panic[cpu3]/thread=";
    for (label, what, quoted, fatal) in [
        (
            "stand-in-zone-timeout",
            "coal setup failed during coal setup: boot 2, zones 14/~22, zone imgapi (zone imgapi: timeout)",
            "creating zone imgapi...",
            fatal,
        ),
        (
            "stand-in-fatal",
            "coal setup failed during coal setup: boot 1, zones 0/~22, preparing for setup (headnode.sh)",
            "No agents-*.sh found!",
            fatal,
        ),
        // A kernel panic in the set-up boot is the rig's infrastructure (no iteration ran),
        // named by its title, not a panic verdict.
        (
            "stand-in-setup-panic",
            "the guest panicked during its set-up boot: kernel heap corruption detected",
            "vmem_xalloc",
            panicked,
        ),
    ] {
        let (r, timed, took) = run_setup(&img, &build, label, pace).await;
        assert_eq!(r.exit_code(), 3, "{label}: {r:#?}");
        let reason = infra_reason(&r.runs[0]);
        assert!(reason.starts_with(what), "{label}: {reason}");
        assert!(reason.contains(quoted) && reason.contains(fatal), "{label}: {reason}");
        // The run ended within a minute of the fatal line (counted from QEMU's start, which
        // comes after the run's).
        let at = seconds_at(&timed, fatal);
        assert!(took < at + 60.0, "{label}: the run took {took:.0} s, the fatal line came at {at:.0} s");
    }
    remove(&build);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_its_platform_cannot_find_stops_at_fs_joyent_and_the_rig_says_so_at_once() {
    // Two keys the rig itself would refuse for their platforms, altered after it prepared them:
    // the firmware still boots each (syslinux from the active MBR entry or the legacy-bootable
    // GPT partition), but the platform's fs-joyent finds no key, and filesystem/smartdc goes to
    // maintenance. The engine ends the set-up boot at that line as infra, not at its deadline.
    let _slot = common::heavy_guest_slot().await;
    let pace = common::pace::measured().await;
    let s = stand_in();
    let build = scratch_build_dir("no-key");

    // The GRUB-era key with its FAT root moved from MBR partition 1 to partition 2: the 2018
    // fs-joyent looks only at partition 1.
    let grub = prepare(&PrepareOptions::new(s.grub_tarball.clone(), None, build.clone())).unwrap();
    let usb = writable_usb(&grub);
    let mut mbr = std::fs::read(&usb).unwrap()[..512].to_vec();
    assert_eq!(mbr[446], 0x80, "partition 1 is the active FAT root");
    let entry = mbr[446..462].to_vec();
    mbr[462..478].copy_from_slice(&entry);
    mbr[446..462].fill(0);
    let mut f = std::fs::File::options().write(true).open(&usb).unwrap();
    std::io::Write::write_all(&mut f, &mbr).unwrap();
    drop(f);
    stops_at_fs_joyent(&grub, &build, "stand-in-no-key", pace).await;

    // The loader-era (GPT) key booting a 2018 platform (what compat.rs refuses before any boot,
    // forced here on the prepared key): its fs-joyent looks at MBR partition 1 of a disk without
    // a GPT only.
    let gpt = prepare(&PrepareOptions::new(s.tarball.clone(), None, build.clone())).unwrap();
    let fat = FatFs::open(&writable_usb(&gpt)).unwrap();
    let pi = rig::guest_os::illumos::coal::stand_in::recipe::DEBUG_BUGGY_PLATFORM;
    let unix = rig::guest_os::illumos::coal::stand_in::recipe::unix_text(pi, true, false);
    fat.write(&format!("os/{pi}/platform/i86pc/kernel/amd64/unix"), unix.as_bytes()).unwrap();
    fat.write(&format!("os/{pi}/platform/i86pc/amd64/boot_archive"), b"2018 archive\n").unwrap();
    let conf = String::from_utf8(fat.read("boot/loader.conf").unwrap()).unwrap();
    fat.write("boot/loader.conf", format!("{conf}platform-version=\"{pi}\"\n").as_bytes()).unwrap();
    fat.close().unwrap();
    stops_at_fs_joyent(&gpt, &build, "stand-in-gpt-2018", pace).await;
    remove(&build);
}

/// Runs the setup boot of `img` through the engine and checks it ended at fs-joyent's
/// maintenance line as infra (exit 3) within a minute of it.
async fn stops_at_fs_joyent(img: &CoalImage, build: &Path, label: &str, pace: Pace) {
    let (r, timed, took) = run_setup(img, build, label, pace).await;
    assert_eq!(r.exit_code(), 3, "{r:#?}");
    let reason = infra_reason(&r.runs[0]);
    assert!(
        reason.starts_with("coal setup failed during coal setup: boot 1, zones 0/~22, kernel joyent_")
            && reason.contains("(service system/filesystem/smartdc:default in maintenance)"),
        "{reason}"
    );
    assert!(reason.contains("Method \"/lib/svc/method/fs-joyent\" failed with exit status 1."), "{reason}");
    let at = seconds_at(&timed, "transitioned to maintenance");
    assert!(took < at + 60.0, "{label}: the run took {took:.0} s, the maintenance line came at {at:.0} s");
}
