//! Unit tests of the Linux reader: one per pattern family, plus the rig guest's own crash shapes.

use super::Linux;
use crate::crash::{CrashKind, CrashReader, Event, read_all};

fn title(text: &str) -> String {
    let r = read_all(&Linux, text.as_bytes());
    assert!(!r.is_empty(), "no crash read from:\n{text}");
    r[0].title.clone()
}

/// The rig's Debian 6.1 guest: `BUG_ON` in a module.
const GUEST_BUG: &str = include_str!("../../../../testdata/linux/console-kernel-bug-vmm-zsd.txt");

#[test]
fn guest_bug_on_in_a_module() {
    let r = read_all(&Linux, GUEST_BUG.as_bytes());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].title, "kernel BUG in vmm_zsd_destroy");
    assert_eq!(r[0].kind, CrashKind::Bug);
    assert!(!r[0].corrupted);
    let f: Vec<_> = r[0].frames.iter().map(|f| (f.function.as_str(), f.module.as_deref(), f.reliable)).collect();
    assert_eq!(f[0], ("vmm_zsd_destroy", Some("vmm"), true));
    assert_eq!(f[1], ("__die_body.cold", None, false));
    assert!(f.contains(&("zsd_apply_destroy", Some("zones"), true)));
    assert_eq!(r[0].message, "kernel BUG at /build/vmm/vmm_zsd.c:162!");
}

#[test]
fn pvpanic_guest_completes_on_flush_and_start_is_immediate() {
    let mut reader = CrashReader::new(&Linux);
    let (head, tail) = GUEST_BUG.split_at(60);
    let ev = reader.feed(head.as_bytes());
    assert!(
        matches!(&ev[..], [Event::CrashStarted { kind: CrashKind::Bug, first_line }] if first_line.contains("kernel BUG at")),
        "{ev:?}"
    );
    assert!(reader.feed(tail.as_bytes()).is_empty(), "no end marker yet");
    assert!(reader.in_crash());
    let ev = reader.flush();
    assert!(matches!(&ev[..], [Event::CrashComplete(r)] if r.title == "kernel BUG in vmm_zsd_destroy"));
}

#[test]
fn end_markers_complete_the_report() {
    for end in [
        "Kernel Offset: 0x1c000000 from 0xffffffff81000000",
        "---[ end Kernel panic - not syncing: Fatal exception ]---",
        "Rebooting in 86400 seconds..",
    ] {
        let text = format!("{GUEST_BUG}[   42.2] {end}\n");
        let mut reader = CrashReader::new(&Linux);
        let ev = reader.feed(text.as_bytes());
        assert!(matches!(ev.last(), Some(Event::CrashComplete(_))), "{end}: {ev:?}");
        assert!(reader.flush().is_empty(), "{end}: nothing left, and no second report");
    }
}

#[test]
fn sysrq_crash_is_a_panic() {
    let text = "[  100.1] sysrq: Trigger a crash\n[  100.2] Kernel panic - not syncing: sysrq triggered crash\n\
[  100.3] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0-18-amd64 #1\n[  100.4] Call Trace:\n[  100.5]  <TASK>\n\
[  100.6]  dump_stack_lvl+0x44/0x5c\n[  100.7]  panic+0x118/0x2ed\n[  100.8]  sysrq_handle_crash+0x16/0x20\n\
[  100.9]  </TASK>\n";
    let r = read_all(&Linux, text.as_bytes());
    assert_eq!(r[0].title, "kernel panic: sysrq triggered crash");
    assert_eq!(r[0].kind, CrashKind::Panic);
}

#[test]
fn families() {
    let cases: &[(&str, &str)] = &[
        (
            "WARNING: CPU: 0 PID: 1 at net/core/dev.c:8000 dev_close+0x10/0x20\nRIP: 0010:dev_close+0x10/0x20\nCall Trace:\n foo+0x1/0x2\n",
            "WARNING in dev_close",
        ),
        (
            "general protection fault, probably for non-canonical address 0xdffffc0000000000: 0000 [#1] SMP KASAN\nRIP: 0010:ext4_foo+0x22/0x40\nCall Trace:\n bar+0x1/0x2\n",
            "general protection fault in ext4_foo",
        ),
        (
            "BUG: unable to handle page fault for address: ffff888000000000\nRIP: 0010:memset_orig+0x33/0xb0\nCall Trace:\n xfs_bar+0x1/0x2\n",
            "BUG: unable to handle kernel paging request in xfs_bar",
        ),
        (
            "BUG: kernel NULL pointer dereference, address: 0000000000000008\nRIP: 0010:nvme_qux+0x8/0x20 [nvme]\nCall Trace:\n x+0x1/0x2\n",
            "BUG: unable to handle kernel NULL pointer dereference in nvme_qux",
        ),
        (
            "BUG: KASAN: use-after-free in tcp_foo+0x10/0x20\nRead of size 8 at addr ffff88801 by task a/1\nCall Trace:\n tcp_foo+0x10/0x20\n",
            "KASAN: use-after-free Read in tcp_foo",
        ),
        (
            "INFO: task kworker/0:1:12 blocked for more than 143 seconds.\nCall Trace:\n __schedule+0x1/0x2\n schedule+0x1/0x2\n p9_fd_close+0x1/0x2\n",
            "INFO: task hung in p9_fd_close",
        ),
        (
            "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [a:1]\nRIP: 0010:spin_foo+0x1/0x2\nCall Trace:\n loop_bar+0x1/0x2\n do_syscall_64+0x1/0x2\n",
            "BUG: soft lockup in loop_bar",
        ),
        (
            "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n",
            "kernel panic: Attempted to kill init!",
        ),
        (
            "divide error: 0000 [#1] SMP\nRIP: 0010:calc_foo+0x1/0x2\nCall Trace:\n a+0x1/0x2\n",
            "divide error in calc_foo",
        ),
        (
            "UBSAN: shift-out-of-bounds in net/x.c:12:3\nshift exponent 64 is too large\nCall Trace:\n dump_stack+0x1/0x2\n ubsan_epilogue+0x1/0x2\n x_shift+0x1/0x2\n",
            "UBSAN: shift-out-of-bounds in x_shift",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(title(text), *want, "for:\n{text}");
    }
}

#[test]
fn benign_lines_are_not_crashes() {
    let text = "[    0.0] ODEBUG: Out of memory. ODEBUG disabled\n[    1.0] INFO: lockdep is turned off.\n\
[    2.0] WARNING: /etc/ssh/moduli does not exist, using fixed modulus\n[    3.0] systemd[1]: Started foo.\n";
    assert!(read_all(&Linux, text.as_bytes()).is_empty());
}

#[test]
fn lost_header_is_corrupted() {
    let r = read_all(&Linux, b"[ 1.0] Kernel panic - not syncing: Fatal exception\n");
    assert_eq!(r[0].title, "kernel panic: Fatal exception");
    assert!(r[0].corrupted);
}

#[test]
fn a_second_crash_after_the_reboot_is_a_second_report() {
    let text = format!("{GUEST_BUG}[ 42.3] Kernel Offset: disabled\n[ 0.0] Linux version 6.1\n{GUEST_BUG}");
    assert_eq!(read_all(&Linux, text.as_bytes()).len(), 2);
}
