//! Dump figures for `cargo xtask bench dumps`: boot the default guest, panic it, and time
//! detection-to-dump-start and whole dumps of its 512 MiB in ELF and kdump-zlib.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use serde::Serialize;
use tokio::time::Instant;

use super::host::{DumpFormat, DumpInfo, host_dump};
use crate::bench::stats::median;
use crate::guest::Guest;
use crate::image::LinuxImage;
use crate::machine::{Accel, cpu};
use crate::profile::LINUX;
use crate::qmp::QmpEvent;

/// Guest memory for the bench.
pub const MEMORY_MIB: u32 = 512;
const DUMP_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline from QEMU start to SSH.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct DumpBench {
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Dumps per format.
    pub rounds: u32,
    /// Milliseconds from the panic (QEMU's `GUEST_PANICKED` timestamp) to QEMU accepting the
    /// first dump: the whole detection-to-dump-start path, event delivery included.
    pub panic_to_dump_start_ms: f64,
    /// Median milliseconds from calling the dump to QEMU accepting it (pause included).
    pub start_latency_ms: f64,
    /// Median seconds for an ELF dump.
    pub elf_secs: f64,
    /// ELF dump size in bytes.
    pub elf_bytes: u64,
    /// Median seconds for a kdump-zlib dump.
    pub kdump_secs: f64,
    /// kdump-zlib dump size in bytes (median).
    pub kdump_bytes: u64,
}

/// Boots the default guest in `dir`, panics it with sysrq-c and waits for `GUEST_PANICKED`
/// (pvpanic pauses it). Returns the guest and the event.
pub async fn panicked_guest(image: &LinuxImage, accel: Accel, dir: &Path) -> Result<(Guest, QmpEvent)> {
    let spec = image.machine(cpu::lookup("epyc").expect("epyc"), accel, MEMORY_MIB, 2, &[]);
    let guest = Guest::launch(spec, LINUX, image.ssh_keys(), dir).await?;
    guest.wait_ready(Instant::now() + BOOT_TIMEOUT).await?;
    let from = guest.qmp().event_cursor();
    // The session dies with the guest: the command never returns, so it runs on the side
    // while the event is awaited.
    let ssh = guest.ssh()?;
    let trigger = tokio::spawn(async move {
        let _ = ssh.exec("echo c > /proc/sysrq-trigger", Duration::from_secs(5)).await;
    });
    let (_, ev) = guest
        .qmp()
        .wait_event("GUEST_PANICKED", from, Instant::now() + Duration::from_secs(30))
        .await
        .context("waiting for the sysrq-c panic")?;
    trigger.abort();
    Ok((guest, ev))
}

/// Runs the bench: one boot, one panic, `rounds` dumps per format into `dir` (deleted after
/// measuring).
pub async fn bench(image: &LinuxImage, accel: Accel, dir: &Path, rounds: u32) -> Result<DumpBench> {
    ensure!(rounds > 0, "at least one round");
    let (guest, ev) = panicked_guest(image, accel, dir).await?;
    let mut first = true;
    let mut panic_to_dump_start_ms = 0.0;
    let (mut starts, mut elf, mut kdump) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        for format in [DumpFormat::KdumpZlib, DumpFormat::Elf] {
            let path = dir.join(format!("bench-{i}.{}", format.extension()));
            let d = host_dump(&guest, &path, format, DUMP_TIMEOUT).await;
            if first {
                let accepted = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
                    - (d.secs - d.start_latency_ms / 1000.0);
                panic_to_dump_start_ms = (accepted - ev.timestamp) * 1000.0;
                first = false;
            }
            let _ = std::fs::remove_file(&path);
            ensure!(d.ok(), "{}", d.summary());
            starts.push(d.start_latency_ms);
            if format == DumpFormat::Elf { &mut elf } else { &mut kdump }.push(d);
        }
    }
    guest.kill().await;
    let secs = |v: &[DumpInfo]| median(&v.iter().map(|d| d.secs).collect::<Vec<_>>());
    let bytes = |v: &[DumpInfo]| median(&v.iter().map(|d| d.bytes as f64).collect::<Vec<_>>()) as u64;
    Ok(DumpBench {
        memory_mib: MEMORY_MIB,
        rounds,
        panic_to_dump_start_ms,
        start_latency_ms: median(&starts),
        elf_secs: secs(&elf),
        elf_bytes: bytes(&elf),
        kdump_secs: secs(&kdump),
        kdump_bytes: bytes(&kdump),
    })
}
