//! Robustness of the crash readers: random bytes, binary noise, CRLF, very long lines, endless
//! reports and megabytes of boot noise never panic, never hang, and keep memory bounded.
//! Inputs come from a seeded xorshift generator, so every failure reproduces.

use rig::crash::corpus::load_dir;
use rig::crash::{CrashReader, CrashReport, Dialect, MAX_LINE, MAX_REPORT_BYTES, read_all};
use rig::guest_os::{illumos::IllumosDialect, linux::LinuxDialect};

/// A crash dialect, as the readers take it.
type Os = &'static dyn Dialect;
const LINUX: Os = &LinuxDialect;
const ILLUMOS: Os = &IllumosDialect;
use std::time::{Duration, Instant};

/// Far above what any of these inputs needs: only a hang (or a quadratic blow-up) trips it.
const HANG_GUARD: Duration = Duration::from_secs(120);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Feeds `text` in random-sized chunks; returns the completed reports.
fn feed_chunked(os: Os, text: &[u8], rng: &mut Rng, max_chunk: usize) -> Vec<CrashReport> {
    let mut reader = CrashReader::new(os);
    let mut events = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let n = 1 + rng.below(max_chunk.min(rest.len()));
        events.extend(reader.feed(&rest[..n]));
        rest = &rest[n..];
    }
    events.extend(reader.flush());
    rig::crash::completed(events)
}

fn bounded(reports: &[CrashReport]) {
    for r in reports {
        assert!(r.text.len() <= MAX_REPORT_BYTES + 2 * MAX_LINE, "report text of {} bytes", r.text.len());
        assert!(r.title.len() <= 120, "title of {} bytes", r.title.len());
    }
}

const GUEST_BUG: &str = "[   42.1] kernel BUG at /build/vmm/vmm_zsd.c:162!\n[   42.2] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n\
[   42.3] RIP: 0010:vmm_zsd_destroy+0x1a/0x30 [vmm]\n[   42.4] Call Trace:\n[   42.5]  <TASK>\n\
[   42.6]  zsd_apply_destroy+0x55/0x90 [zones]\n[   42.7]  </TASK>\n[   42.8] Kernel panic - not syncing: Fatal exception\n";

const ILLUMOS_PANIC: &str = "\n\rpanic[cpu3]/thread=fffffe17a84c8200: assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162\n\n\
fffffe0021b5cbf0 genunix:process_type+16c0d0 ()\nfffffe0021b5cc20 vmm:vmm_zsd_destroy+e8 ()\n\ndumping to /dev/zvol/dsk/zones/dump, offset 65536, content: kernel\n";

#[test]
fn random_bytes_never_panic() {
    let start = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..8 {
        let text = rng.bytes(512 * 1024);
        for os in [LINUX, ILLUMOS] {
            bounded(&feed_chunked(os, &text, &mut rng, 1 + round * 1000));
            bounded(&read_all(os, &text));
        }
    }
    assert!(start.elapsed() < HANG_GUARD);
}

#[test]
fn binary_noise_around_a_crash_keeps_its_title() {
    let mut rng = Rng(42);
    for (os, crash, title) in [
        (LINUX, GUEST_BUG, "kernel BUG in vmm_zsd_destroy"),
        (ILLUMOS, ILLUMOS_PANIC, "assertion failed: !zsd->vz_active in vmm_zsd_destroy"),
    ] {
        let mut text = rng.bytes(256 * 1024);
        text.retain(|&b| b != b'\n' && b != b'\r');
        let mut with = text.clone();
        with.extend_from_slice(b"\n\0\0\xff\xfe\n");
        with.extend_from_slice(crash.as_bytes());
        with.extend_from_slice(&text);
        let reports = feed_chunked(os, &with, &mut rng, 9000);
        assert!(
            reports.iter().any(|r| r.title == title),
            "{os}: {:?}",
            reports.iter().map(|r| &r.title).collect::<Vec<_>>()
        );
    }
}

#[test]
fn crlf_cr_and_nul_do_not_change_titles() {
    for (os, crash) in [(LINUX, GUEST_BUG), (ILLUMOS, ILLUMOS_PANIC)] {
        let want = read_all(os, crash.as_bytes())[0].title.clone();
        for variant in [
            crash.replace('\n', "\r\n"),
            crash.replace('\n', "\n\r"),
            crash.replace('\n', "\r"),
            crash.replace(' ', " \0"),
        ] {
            let got = read_all(os, variant.as_bytes());
            assert_eq!(got.first().map(|r| r.title.as_str()), Some(want.as_str()), "{os}: {variant:?}");
        }
    }
}

#[test]
fn very_long_lines_are_bounded() {
    let start = Instant::now();
    let long = "A".repeat(8 << 20);
    for (os, head) in [(LINUX, "BUG: KASAN: use-after-free in f+0x1/0x2 "), (ILLUMOS, "panic[cpu0]/thread=ffff0000: ")]
    {
        let text = format!("{head}{long}\n{long}{head}\n{long}");
        let reports = read_all(os, text.as_bytes());
        assert!(!reports.is_empty(), "{os}: the header line still starts a report");
        bounded(&reports);
    }
    assert!(start.elapsed() < HANG_GUARD);
}

#[test]
fn endless_reports_and_header_storms_are_bounded() {
    let start = Instant::now();
    let storm =
        "[ 1.0] BUG: KASAN: use-after-free in tcp_foo+0x10/0x20\n[ 1.1] Read of size 8 at addr ffff88801 by task a/1\n"
            .repeat(20_000);
    let reports = read_all(&LinuxDialect, storm.as_bytes());
    assert!(!reports.is_empty());
    bounded(&reports);
    let endless = format!("{GUEST_BUG}{}", "[ 2.0] zsd_apply_destroy+0x55/0x90 [zones]\n".repeat(200_000));
    bounded(&read_all(&LinuxDialect, endless.as_bytes()));
    let illumos = format!("{ILLUMOS_PANIC}{}", "fffffe0021b5cca0 genunix:zsd_apply_destroy+165 ()\n".repeat(200_000));
    bounded(&read_all(&IllumosDialect, illumos.as_bytes()));
    assert!(start.elapsed() < HANG_GUARD);
}

#[test]
fn megabytes_of_boot_noise_hold_exactly_the_one_crash() {
    let noise: String = (0..40_000)
        .map(|i| format!("[{:5}.{:06}] systemd[1]: Started unit-{i}.service - Some Service.\n", i / 100, i))
        .collect();
    let text = format!("{noise}{GUEST_BUG}[ 43.0] Kernel Offset: disabled\n{noise}");
    assert!(text.len() > 4 << 20);
    let mut rng = Rng(7);
    let reports = feed_chunked(LINUX, text.as_bytes(), &mut rng, 65536);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].title, "kernel BUG in vmm_zsd_destroy");
    let illumos_noise = "NOTICE: vnic1001 link up, 10000 Mbps, full duplex\n".repeat(100_000);
    let text = format!("{illumos_noise}{ILLUMOS_PANIC}100% done: 1 pages dumped, dump succeeded\n{illumos_noise}");
    assert_eq!(read_all(&IllumosDialect, text.as_bytes()).len(), 1);
}

/// The syzkaller corpus (`RIG_SYZKALLER_CORPUS` or `../shared`).
fn corpus() -> Vec<rig::crash::corpus::Case> {
    let dir = std::env::var_os("RIG_SYZKALLER_CORPUS").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/syzkaller-linux/cases"))
    });
    load_dir(&dir).unwrap_or_else(|e| panic!("syzkaller corpus not found at {}: {e}", dir.display()))
}

#[test]
fn corpus_reads_the_same_whatever_the_chunking() {
    let cases = corpus();
    let mut rng = Rng(1234);
    for case in cases.iter().step_by(5) {
        let whole: Vec<String> = read_all(&LinuxDialect, &case.text).into_iter().map(|r| r.title).collect();
        let chunked: Vec<String> =
            feed_chunked(LINUX, &case.text, &mut rng, 300).into_iter().map(|r| r.title).collect();
        assert_eq!(chunked, whole, "{}", case.path.display());
    }
}

/// `text` as a colour terminal or `dmesg --color=always` shows it: timestamps green, the
/// message bold red, a reset and an erase-line after it, and now and then a window-title
/// (OSC) sequence; lines without a timestamp are coloured whole.
fn coloured(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = String::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let (body, nl) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        if i % 7 == 0 {
            out.push_str("\x1b]0;console\x07");
        }
        match body.find("] ") {
            Some(at) if body.starts_with('[') => {
                let (stamp, msg) = body.split_at(at + 1);
                out.push_str(&format!("\x1b[32m{stamp}\x1b[0m\x1b[1;31m{msg}\x1b[0m\x1b[K{nl}"));
            }
            _ => out.push_str(&format!("\x1b[33m{body}\x1b[39;49m{nl}")),
        }
    }
    out.into_bytes()
}

/// Title and stack of every report, as compared between a plain and a coloured console.
fn reading(os: Os, text: &[u8]) -> Vec<(String, Vec<String>)> {
    read_all(os, text)
        .into_iter()
        .map(|r| (r.title, r.frames.iter().map(|f| format!("{:?}:{}", f.module, f.function)).collect()))
        .collect()
}

#[test]
fn colour_sequences_change_no_title_and_lose_no_frame() {
    for (os, crash) in [(LINUX, GUEST_BUG), (ILLUMOS, ILLUMOS_PANIC)] {
        let plain = reading(os, crash.as_bytes());
        assert!(!plain.is_empty() && !plain[0].1.is_empty(), "{os}: {plain:?}");
        assert_eq!(reading(os, &coloured(crash.as_bytes())), plain, "{os}");
    }
    for case in corpus().iter().step_by(5) {
        let plain = reading(LINUX, &case.text);
        assert_eq!(reading(LINUX, &coloured(&case.text)), plain, "{}", case.path.display());
    }
}
