//! `cargo xtask bench crash`: the crash reader's throughput on ordinary console text, for
//! every guest OS the registry knows (each OS's quiet console sample is
//! `rig/testdata/quiet-console/<os>.txt`), and on crash-dense text ([`super::syzkaller`]).

use rig::crash::{CrashReader, Dialect, Event};
use std::time::{Duration, Instant};

/// How much text each measurement reads.
pub(super) const TARGET_BYTES: usize = 64 << 20;
/// The chunk size fed to the reader, like a serial console task's reads.
const CHUNK: usize = 4096;

/// `sample` repeated to at least `bytes` bytes.
pub(super) fn repeated(sample: &[u8], bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + sample.len());
    while out.len() < bytes && !sample.is_empty() {
        out.extend_from_slice(sample);
    }
    out
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

/// Measures and prints one throughput line (MB/s) of `dialect` reading `text`.
pub(super) fn line(what: &str, dialect: &'static dyn Dialect, text: &[u8]) -> f64 {
    // Warm up the lazily compiled pattern tables outside the timing.
    let _ = measure(dialect, b"warm up\n");
    let (took, reports) = measure(dialect, text);
    let mb = text.len() as f64 / 1e6;
    let rate = mb / took.as_secs_f64().max(1e-9);
    outln!("crash reader, {what}: {rate:.0} MB/s ({mb:.1} MB in {:.2} s, {reports} reports)", took.as_secs_f64());
    rate
}

/// Measures and prints the crash reader's throughput (MB/s): on each guest OS's ordinary
/// console text (the figure that must stay at or above 100 MB/s), and on the crash-dense
/// syzkaller corpus when it is present.
pub fn run() -> anyhow::Result<()> {
    let samples = crate::paths::workspace().join("rig/testdata/quiet-console");
    let mut worst = f64::INFINITY;
    for os in rig::guest_os::registry() {
        let path = samples.join(format!("{}.txt", os.name()));
        match std::fs::read(&path) {
            Ok(sample) if !sample.is_empty() => {
                let text = repeated(&sample, TARGET_BYTES);
                worst = worst.min(line(&format!("ordinary {} console", os.name()), os.dialect(), &text));
            }
            _ => outln!("crash reader, ordinary {} console: no sample at {}", os.name(), path.display()),
        }
    }
    super::syzkaller::run();
    if cfg!(debug_assertions) {
        outln!("crash reader: measured in a debug build of rig; a release build reads several times faster");
    }
    if worst.is_infinite() {
        anyhow::bail!("no guest OS has an ordinary console sample in {}", samples.display());
    }
    let verdict = if worst >= 100.0 { "meets" } else { "BELOW" };
    outln!("crash reader: {verdict} the 100 MB/s target on ordinary console text ({worst:.0} MB/s)");
    Ok(())
}
