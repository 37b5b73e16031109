//! `cargo xtask bench crash`: the crash reader's throughput on ordinary console text.

use rig::crash::{CrashReader, Dialect, Event};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How much text each measurement reads.
const TARGET_BYTES: usize = 64 << 20;
/// The chunk size fed to the reader, like a serial console task's reads.
const CHUNK: usize = 4096;

/// Ordinary console lines: a Linux boot and a running system, with `[ time]` prefixes added.
const LINUX_NOISE: &[&str] = &[
    "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/vda1 ro console=ttyS0,115200n8",
    "x86/fpu: Supporting XSAVE feature 0x002: 'SSE registers'",
    "BIOS-e820: [mem 0x0000000000100000-0x000000007ffdbfff] usable",
    "pci 0000:00:02.0: [1234:1111] type 00 class 0x030000",
    "virtio_blk virtio1: [vda] 41943040 512-byte logical blocks (21.5 GB/20.0 GiB)",
    "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "systemd[1]: Started systemd-journald.service - Journal Service.",
    "audit: type=1400 audit(1700000000.123:42): apparmor=\"STATUS\" operation=\"profile_load\" name=\"/usr/bin/man\" pid=412 comm=\"apparmor_parser\"",
    "e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
    "zones: loading out-of-tree module taints kernel.",
    "vmm: module verification failed: signature and/or required key missing - tainting kernel",
    "random: crng init done",
];

/// Ordinary illumos console lines.
const ILLUMOS_NOISE: &[&str] = &[
    "SunOS Release 5.11 Version joyent_20181129T000000Z 64-bit",
    "Copyright (c) 2010-2018, Joyent Inc. All rights reserved.",
    "NOTICE: vnic1001 link up, 10000 Mbps, full duplex",
    "Nov 29 16:40:29 headnode vmadm[4123]: [ID 702911 daemon.info] stopping zone 12675ef2-10c7-41df-9476-c730972cb905",
    "WARNING: /pci@0,0/pci8086,2829@1f,2: port 1: link lost",
    "Loading smf(5) service descriptions: 147/147",
];

fn linux_noise() -> Vec<u8> {
    let mut out = Vec::with_capacity(TARGET_BYTES + 4096);
    let mut n: u64 = 0;
    while out.len() < TARGET_BYTES {
        let line = LINUX_NOISE[(n % LINUX_NOISE.len() as u64) as usize];
        out.extend_from_slice(format!("[{:5}.{:06}] {line}\r\n", n / 1000, (n * 7919) % 1_000_000).as_bytes());
        n += 1;
    }
    out
}

fn illumos_noise() -> Vec<u8> {
    let mut out = Vec::with_capacity(TARGET_BYTES + 4096);
    while out.len() < TARGET_BYTES {
        for line in ILLUMOS_NOISE {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\n");
        }
    }
    out
}

/// The syzkaller corpus logs concatenated and repeated: crash-dense text (a worst case).
fn corpus_text() -> Option<Vec<u8>> {
    let dir = std::env::var_os("RIG_SYZKALLER_CORPUS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/syzkaller-linux/cases"))
    });
    let cases = rig::crash::corpus::load_dir(&dir).ok()?;
    let mut once: Vec<u8> = Vec::new();
    for c in &cases {
        once.extend_from_slice(&c.text);
        once.push(b'\n');
    }
    if once.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(TARGET_BYTES / 4 + once.len());
    while out.len() < TARGET_BYTES / 4 {
        out.extend_from_slice(&once);
    }
    Some(out)
}

/// Feeds `text` in [`CHUNK`]-byte pieces; returns the time taken and the reports read.
fn measure(dialect: &'static dyn Dialect, text: &[u8]) -> (Duration, usize) {
    let start = Instant::now();
    let mut reader = CrashReader::new(dialect);
    let mut reports = 0;
    for chunk in text.chunks(CHUNK) {
        reports += reader.feed(chunk).iter().filter(|e| matches!(e, Event::CrashComplete(_))).count();
    }
    reports += reader.flush().len();
    (start.elapsed(), reports)
}

fn line(what: &str, os: &str, text: &[u8]) -> f64 {
    let Some(dialect) = rig::guest_os::dialect(os) else {
        outln!("crash reader, {what}: no guest OS named {os}");
        return 0.0;
    };
    // Warm up the lazily compiled pattern tables outside the timing.
    let _ = measure(dialect, b"warm up\n");
    let (took, reports) = measure(dialect, text);
    let mb = text.len() as f64 / 1e6;
    let rate = mb / took.as_secs_f64().max(1e-9);
    outln!("crash reader, {what}: {rate:.0} MB/s ({mb:.1} MB in {:.2} s, {reports} reports)", took.as_secs_f64());
    rate
}

/// Measures and prints the crash reader's throughput (MB/s): on ordinary Linux and illumos
/// console text (the figure that must stay at or above 100 MB/s), and on the crash-dense
/// syzkaller corpus when it is present.
pub fn run() -> anyhow::Result<()> {
    let linux = line("ordinary Linux console", "linux", &linux_noise());
    let illumos = line("ordinary illumos console", "illumos", &illumos_noise());
    match corpus_text() {
        Some(text) => {
            line("syzkaller corpus (crash-dense)", "linux", &text);
        }
        None => outln!("crash reader, syzkaller corpus: skipped (corpus not found; set RIG_SYZKALLER_CORPUS)"),
    }
    if cfg!(debug_assertions) {
        outln!("crash reader: measured in a debug build of rig; a release build reads several times faster");
    }
    let worst = linux.min(illumos);
    let verdict = if worst >= 100.0 { "meets" } else { "BELOW" };
    outln!("crash reader: {verdict} the 100 MB/s target on ordinary console text ({worst:.0} MB/s)");
    Ok(())
}
