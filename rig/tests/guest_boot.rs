//! Boots the real default guest under QEMU (TCG here) through the rig and drives it over all
//! three channels: console, SSH and QMP.

mod common;

use std::time::Duration;

use rig::guest::{Guest, GuestError, SshKeys};
use rig::guest_os::linux::LINUX;
use rig::machine::{Accel, cpu};
use tokio::time::Instant;

fn keys(image: &rig::guest_os::linux::image::LinuxImage) -> SshKeys {
    image.ssh_keys()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boots_and_drives_console_ssh_and_qmp() {
    let image = common::image();
    let dir = common::evidence_dir("guest-boot");
    let spec = common::epyc_machine(&image);
    let guest = Guest::launch(spec, LINUX, keys(&image), &dir).await.unwrap();
    let boot = guest.wait_ready(Instant::now() + Duration::from_secs(120)).await.unwrap();

    // The console carried the ready marker with this boot's nonce, and SSH agrees.
    assert_eq!(boot.boot_id.len(), 36, "{boot:?}");
    let id = guest.run(LINUX.boot_id_command, Duration::from_secs(10)).await.unwrap();
    assert_eq!(id.trim(), boot.boot_id);

    // SSH exec returns stdout, stderr and the exit status.
    let out = guest.ssh().unwrap().exec("echo out; echo err >&2; exit 7", Duration::from_secs(10)).await.unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, Some(7));

    // The user network is restricted: a port listening on the host's loopback, which QEMU's
    // gateway 10.0.2.2 would otherwise forward to, is out of the guest's reach.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = format!("echo x | timeout 10 busybox nc -w 3 10.0.2.2 {port}; echo status=$?");
    let reach = guest.run(&probe, Duration::from_secs(30)).await.unwrap();
    assert!(!reach.contains("status=0"), "the guest reached the host: {reach}");
    assert!(listener.accept().is_err(), "the host accepted a connection from the guest");

    // The EPYC model shows SVM and kvm_amd loaded.
    let cpuinfo = guest.run("cat /proc/cpuinfo", Duration::from_secs(10)).await.unwrap();
    let idn = rig::identity::parse_cpuinfo(&cpuinfo);
    assert_eq!(idn.vendor_id, "AuthenticAMD");
    assert!(idn.flags.contains("svm"), "no svm in {:?}", idn.flags);
    assert_eq!(idn.cpus, 2);
    assert!(guest.run("cat /proc/modules", Duration::from_secs(10)).await.unwrap().contains("kvm_amd"));

    // QMP: running, and system_reset gives a RESET event and a new boot.
    let st = guest.qmp().execute(&qapi::qmp::query_status {}, Duration::from_secs(5)).await.unwrap();
    assert!(st.running);
    let ev = guest.qmp().event_cursor();
    let con = guest.console().cursor();
    let since = Instant::now();
    guest.qmp().execute(&qapi::qmp::system_reset {}, Duration::from_secs(5)).await.unwrap();
    let (_, reset) = guest.qmp().wait_event("RESET", ev, Instant::now() + Duration::from_secs(10)).await.unwrap();
    assert_eq!(reset.data["guest"], false, "{reset:?}");
    let second =
        guest.wait_boot(con, Some(&boot.boot_id), since, Instant::now() + Duration::from_secs(120)).await.unwrap();
    assert_ne!(second.boot_id, boot.boot_id);
    let id = guest.run(LINUX.boot_id_command, Duration::from_secs(10)).await.unwrap();
    assert_eq!(id.trim(), second.boot_id);

    let pid = guest.pid();
    guest.shutdown().await;
    assert!(!common::alive(pid), "QEMU {pid} survived shutdown");
    for f in ["qemu.cmdline", "qemu.stderr", "qmp.log", "ttyS0.log", "ttyS0.timed.log"] {
        assert!(dir.join(f).exists(), "{f} missing from the evidence");
    }
    let transcript = std::fs::read_to_string(dir.join("qmp.log")).unwrap();
    assert!(transcript.contains("\"system_reset\"") && transcript.contains("\"RESET\""));
    let console = std::fs::read_to_string(dir.join("ttyS0.log")).unwrap();
    assert_eq!(console.matches("RIG-READY boot_id=").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_smoke_passes_for_epyc_and_skips_intel_nesting_under_tcg() {
    use rig::engine::campaign::{self, Plan};
    common::image();
    let case =
        rig::case::find(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "boot-smoke")
            .unwrap();
    let cpus = vec![cpu::lookup("epyc").unwrap(), cpu::lookup("cascadelake").unwrap()];
    let plan = Plan::new(vec![case], cpus, Accel::Tcg, common::build_dir(), common::evidence_dir("boot-smoke"));
    let r = campaign::run(&plan, &mut |_| {}).await;
    let epyc = &r.runs[0];
    assert_eq!(epyc.tally.pass, 1, "{epyc:#?}");
    let check = epyc.iterations[0].steps.iter().find(|s| s.step == "check_cpu").expect("the CPU was checked");
    assert!(check.result.contains("ok: flag svm present") && check.result.contains("ok: kvm_amd loaded"), "{check:?}");
    let intel = &r.runs[1];
    assert!(
        matches!(&intel.not_run, Some(rig::results::Outcome::Skipped { reason }) if reason.contains("needs KVM")),
        "{intel:#?}"
    );
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_never_gets_ready_is_a_deadline_with_the_console_tail() {
    let image = common::image();
    let dir = common::evidence_dir("never-ready");
    let mut spec = common::epyc_machine(&image);
    // No init: the kernel panics ("No working init found") and the guest never gets ready.
    if let rig::machine::Boot::Kernel { append, .. } = &mut spec.boot {
        *append = append.replace("rdinit=/init", "rdinit=/no-such-init");
    }
    let slack = common::pace::measured().await.secs(5);
    let guest = Guest::launch(spec, LINUX, keys(&image), &dir).await.unwrap();
    let began = Instant::now();
    let e = guest.wait_ready(Instant::now() + Duration::from_secs(20)).await.unwrap_err();
    assert!(began.elapsed() < Duration::from_secs(20) + slack, "{:?}, slack {slack:?}", began.elapsed());
    match &e {
        GuestError::NotReady(w) => {
            assert!(!w.tail.is_empty());
            assert!(e.to_string().contains("last console lines"), "{e}");
        }
        other => panic!("expected NotReady, got {other}"),
    }
    guest.shutdown().await;
}

/// A kernel that reports a stall and then makes no progress: the boot wait ends as a stall,
/// quoting the kernel's report, long before its deadline (which would be `NotReady`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_that_stalls_ends_early_quoting_the_kernels_report() {
    let image = common::image();
    let dir = common::evidence_dir("stalled-boot");
    let spec = common::epyc_machine(&image);
    let guest = Guest::launch(spec, LINUX, keys(&image), &dir).await.unwrap();
    let boot = guest.wait_ready(Instant::now() + Duration::from_secs(120)).await.unwrap();
    let mut link = guest.link();
    link.set_stall_grace(Duration::from_secs(5));
    let from = guest.console().cursor();
    // The kernel prints the report on the console as it prints its own (an emergency-level
    // message, so `quiet` does not hide it), then the guest stops making progress for good.
    let report = "watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [cryptomgr_test:71]";
    guest.run(&format!("echo '<0>{report}' > /dev/kmsg"), Duration::from_secs(30)).await.unwrap();
    guest.qmp().execute(&qapi::qmp::stop {}, Duration::from_secs(5)).await.unwrap();
    let e = link
        .wait_boot(from, Some(&boot.boot_id), Instant::now(), Instant::now() + Duration::from_secs(120))
        .await
        .unwrap_err();
    match &e {
        GuestError::Stalled { console, first, grace_secs, .. } => {
            assert_eq!(console, "ttyS0");
            assert!(first.ends_with(report), "{first}");
            assert_eq!(*grace_secs, 5);
            assert!(e.to_string().contains("stalled while booting"), "{e}");
        }
        other => panic!("expected Stalled, got {other}"),
    }
    guest.shutdown().await;
}

/// A boot whose consoles go silent (its vCPUs stopped with QMP `stop` as it starts) ends as
/// `Silent` after the silence limit, naming the last line, instead of at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_that_goes_silent_ends_at_its_silence_limit() {
    let image = common::image();
    let dir = common::evidence_dir("silent-boot");
    let mut guest = Guest::launch(common::epyc_machine(&image), LINUX, keys(&image), &dir).await.unwrap();
    guest.qmp().execute(&qapi::qmp::stop {}, Duration::from_secs(5)).await.unwrap();
    guest.set_boot_silence(Some(Duration::from_secs(5)));
    let began = Instant::now();
    let e = guest.wait_ready(Instant::now() + Duration::from_secs(300)).await.unwrap_err();
    let took = began.elapsed();
    match &e {
        GuestError::Silent { secs, .. } => assert!(*secs >= 5, "{e}"),
        other => panic!("expected Silent, got {other}"),
    }
    assert!(e.to_string().contains("the boot went silent"), "{e}");
    assert!(took < Duration::from_secs(60), "the silent boot took {took:?}, not its 5 s limit");
    assert!(guest.boot_went_silent());
    guest.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_dying_at_start_reports_its_stderr() {
    let image = common::image();
    let dir = common::evidence_dir("qemu-dies");
    let mut spec = common::epyc_machine(&image);
    spec.extra_args = vec!["-device".into(), "no-such-device".into()];
    let e = match Guest::launch(spec, LINUX, keys(&image), &dir).await {
        Ok(_) => panic!("QEMU accepted a bogus device"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("no-such-device"), "{e}");
    assert!(e.contains(&dir.display().to_string()), "the error points at the evidence: {e}");
    assert!(std::fs::read_to_string(dir.join("qemu.stderr")).unwrap().contains("no-such-device"));
}

/// `savevm` stops the guest, under TCG on a loaded host for longer than the SSH session's
/// keepalive waits (three unanswered, one a second): the session dies, and the rig used to call
/// the guest unreachable ("SSH did not answer: ... Keepalive timeout"). Now it logs in again
/// once, on the same boot. A QMP `stop` for longer than the keepalive stands in for a slow
/// `savevm`; the real `savevm` follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_session_that_died_while_the_guest_was_paused_is_revived_after_savevm() {
    let image = common::image();
    let dir = common::evidence_dir("guest-paused");
    let mut spec = common::epyc_machine(&image);
    rig::qemu::img::create(&dir, "state.qcow2", "1G").unwrap();
    spec.state_disk = Some(dir.join("state.qcow2"));
    let guest = Guest::launch(spec, LINUX, keys(&image), &dir).await.unwrap();
    let boot = guest.wait_ready(Instant::now() + Duration::from_secs(120)).await.unwrap();
    let old = guest.ssh().unwrap();
    guest.qmp().execute(&qapi::qmp::stop {}, Duration::from_secs(5)).await.unwrap();
    let dead_by = Instant::now() + Duration::from_secs(30);
    while !old.is_closed() {
        assert!(Instant::now() < dead_by, "the session outlived a 30 s pause: {old:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    guest.qmp().execute(&qapi::qmp::cont {}, Duration::from_secs(5)).await.unwrap();
    // The dead session no longer answers: what the rig met after a slow savevm.
    let err = old.exec("true", Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(err, rig::ssh::SshError::Disconnected(_)), "{err}");
    guest.save_snapshot("paused").await.unwrap();
    let id = guest.run(LINUX.boot_id_command, Duration::from_secs(10)).await.unwrap();
    assert_eq!(id.trim(), boot.boot_id, "the same boot answers");
    assert!(!std::sync::Arc::ptr_eq(&old, &guest.ssh().unwrap()), "a new session");
    guest.shutdown().await;
}
