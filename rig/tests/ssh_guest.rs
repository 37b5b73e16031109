//! Boots the default guest under QEMU (TCG) with a hand-written command line and drives it
//! over SSH: exec, stderr, exit status, download, a frozen guest, a reboot, a wrong host key.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rig::guest_os::linux::image::{LinuxImage, ensure_image};
use rig::ssh::{Ssh, SshError, SshTarget};
use tokio::time::Instant;

const QEMU: &str = "qemu-system-x86_64";
/// A valid ed25519 key that is not the guest's.
const WRONG_HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ not-the-guest";

/// Kills QEMU when the test ends, however it ends.
struct QemuGuard(Child);

impl Drop for QemuGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn boot(img: &LinuxImage, dir: &Path, port: u16) -> QemuGuard {
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(QEMU).is_file());
    assert!(on_path, "{QEMU} is missing: install it with `apt-get install qemu-system-x86 qemu-utils`");
    let child = Command::new(QEMU)
        .args(["-accel", "tcg", "-M", "pc", "-cpu", "EPYC", "-smp", "2", "-m", "512"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .arg("-kernel")
        .arg(&img.kernel)
        .arg("-initrd")
        .arg(&img.initrd)
        .args(["-append", &img.cmdline])
        .arg("-serial")
        .arg(format!("file:{}", dir.join("serial.log").display()))
        .args(["-netdev", &format!("user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22")])
        .args(["-device", "virtio-net-pci,netdev=n0", "-device", "pvpanic"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("qemu.stderr")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {QEMU}: {e}"));
    QemuGuard(child)
}

fn serial(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serial.log")).unwrap_or_default()
}

/// Fails the test with the console's last lines as evidence.
fn fail(dir: &Path, what: &str) -> ! {
    let log = serial(dir);
    let tail: Vec<_> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
    panic!("{what}\n--- last console lines ({}) ---\n{}", dir.display(), tail.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_drives_the_default_guest() {
    let build = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../build"));
    let img = ensure_image(&build, "linux").expect("building the linux image");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ssh_guest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let target = SshTarget {
        addr: ([127, 0, 0, 1], port).into(),
        user: "root".into(),
        client_key: img.client_key.clone(),
        host_key: img.host_key.clone(),
    };

    let started = Instant::now();
    let qemu = boot(&img, &dir, port);
    let ssh = match Ssh::connect_until(&target, Instant::now() + Duration::from_secs(60)).await {
        Ok(s) => s,
        Err(e) => fail(&dir, &format!("guest never answered over SSH: {e}")),
    };
    eprintln!("QEMU start -> SSH ready: {:.2?}", started.elapsed());
    let pace = common::pace::Pace::of_boot_secs(started.elapsed().as_secs_f64());
    let t = Duration::from_secs(10);

    // Stdout, exit status, stderr.
    let out = ssh.exec("echo hi; exit 3", t).await.unwrap();
    assert_eq!((out.stdout_str().as_str(), out.status), ("hi\n", Some(3)));
    let out = ssh.exec("echo oops >&2", t).await.unwrap();
    assert_eq!((out.stderr_str().as_str(), out.stdout.len(), out.status), ("oops\n", 0, Some(0)));

    // The CPU model and nested virtualization, two commands at once on one session.
    let (svm, lsmod) = tokio::join!(ssh.exec("grep -c svm /proc/cpuinfo", t), ssh.exec("lsmod", t));
    let svm: u32 = svm.unwrap().stdout_str().trim().parse().unwrap();
    assert!(svm > 0, "guest does not see svm");
    let lsmod = lsmod.unwrap().stdout_str();
    assert!(lsmod.contains("kvm_amd"), "kvm_amd not loaded:\n{lsmod}");

    // Download.
    let local = dir.join("version");
    let n = ssh.download("/proc/version", &local, t).await.unwrap();
    let version = ssh.exec("cat /proc/version", t).await.unwrap().stdout;
    assert_eq!(std::fs::read(&local).unwrap(), version);
    assert_eq!(n, version.len() as u64);
    assert!(matches!(ssh.download("/no/such/file", &local, t).await, Err(SshError::Io(_))));

    // A wrong pinned host key is refused at once, by connect and connect_until alike.
    let wrong = dir.join("wrong_host_key.pub");
    std::fs::write(&wrong, WRONG_HOST_KEY).unwrap();
    let bad = SshTarget { host_key: wrong, ..target.clone() };
    let e = Ssh::connect(&bad, t).await.expect_err("wrong host key accepted");
    assert!(matches!(e, SshError::HostKeyMismatch { .. }), "{e}");
    let e = Ssh::connect_until(&bad, Instant::now() + t).await.err().unwrap();
    assert!(matches!(e, SshError::HostKeyMismatch { .. }), "{e}");

    // With no key pinned yet, the first key offered is trusted and pinned: it is the guest's.
    let unpinned = dir.join("first_use_host_key.pub");
    let _ = std::fs::remove_file(&unpinned);
    let first = SshTarget { host_key: unpinned.clone(), ..target.clone() };
    Ssh::connect(&first, t).await.expect("trust on first use").close().await;
    let pinned = rig::ssh::parse_pinned_key(&std::fs::read_to_string(&unpinned).unwrap()).unwrap();
    let built = rig::ssh::parse_pinned_key(&std::fs::read_to_string(&target.host_key).unwrap()).unwrap();
    assert_eq!(pinned.key_data(), built.key_data());
    Ssh::connect(&first, t).await.expect("the pinned key matches next time").close().await;

    // A frozen guest (QEMU stopped with SIGSTOP) is noticed through keepalives in seconds.
    let frozen = Ssh::connect(&target, t).await.unwrap();
    let pid = qemu.0.id() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let since = Instant::now();
    let e = frozen.exec("true", Duration::from_secs(30)).await.expect_err("exec on a frozen guest");
    unsafe { libc::kill(pid, libc::SIGCONT) };
    eprintln!("frozen guest noticed after {:.2?}: {e}", since.elapsed());
    assert!(matches!(e, SshError::Disconnected(_)), "{e}");
    assert!(since.elapsed() < pace.secs(8), "{:?} at {pace:?}", since.elapsed());
    // The freeze took every session down (keepalives went unanswered): log in again.
    let e = ssh.exec("true", t).await.expect_err("session survived the freeze");
    assert!(matches!(e, SshError::Disconnected(_)), "{e}");
    let ssh = Ssh::connect_until(&target, Instant::now() + Duration::from_secs(30)).await.unwrap();

    // Reboot: the detached command returns at once, the session drops, a new boot answers.
    let boot1 = ssh.exec("cat /proc/sys/kernel/random/boot_id", t).await.unwrap().stdout_str();
    let since = Instant::now();
    ssh.spawn_detached("reboot -f", t).await.unwrap();
    assert!(since.elapsed() < pace.secs(3), "spawn_detached blocked: {:?} at {pace:?}", since.elapsed());
    let dropped = loop {
        match ssh.exec("true", Duration::from_secs(2)).await {
            Ok(_) if since.elapsed() < Duration::from_secs(20) => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(_) => fail(&dir, "the session survived `reboot -f`"),
            Err(e) => break e,
        }
    };
    assert!(matches!(dropped, SshError::Disconnected(_) | SshError::Timeout { .. }), "{dropped}");
    let ssh2 = match Ssh::connect_until(&target, Instant::now() + Duration::from_secs(60)).await {
        Ok(s) => s,
        Err(e) => fail(&dir, &format!("guest did not come back after reboot: {e}")),
    };
    eprintln!("reboot -f -> SSH ready: {:.2?}", since.elapsed());
    let boot2 = ssh2.exec("cat /proc/sys/kernel/random/boot_id", t).await.unwrap().stdout_str();
    assert_ne!(boot1, boot2, "boot_id did not change across the reboot");

    // The console carries the ready marker of both boots.
    let log = serial(&dir);
    for id in [&boot1, &boot2] {
        let marker = format!("RIG-READY boot_id={}", id.trim());
        assert!(log.contains(&marker), "console lacks {marker:?}");
    }
    ssh2.close().await;
    ssh.close().await;
}
