//! Dump figures: boot the default guest, panic it, and time detection-to-dump-start and whole
//! dumps of its 512 MiB in ELF and kdump-zlib.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, ensure};
use rig::dump::panicked::{MEMORY_MIB, panicked_guest};
use rig::dump::{DumpFormat, DumpInfo, host_dump};
use rig::guest_os::Target;
use rig::host::AccelChoice;
use rig::machine::Accel;
use serde::Serialize;

use super::stats::median;

const DUMP_TIMEOUT: Duration = Duration::from_secs(120);

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

/// Measures 3 dumps per format, prints the figures and writes `<out>/dumps.json`; the dumps
/// themselves are deleted.
pub async fn run(accel: AccelChoice, out: &Path) -> Result<()> {
    let setup = super::setup(accel).await?;
    let dir = rig::rundir::create(out, "dumps")?;
    let d = measure(setup.image.as_ref(), setup.accel, &dir, 3).await?;
    outln!(
        "dumps ({} MiB guest, {}): panic to dump start {:.1} ms (target < 100 ms); ELF {:.2}s ({} MiB), kdump-zlib {:.2}s ({} MiB)",
        d.memory_mib,
        setup.accel.as_str(),
        d.panic_to_dump_start_ms,
        d.elf_secs,
        d.elf_bytes >> 20,
        d.kdump_secs,
        d.kdump_bytes >> 20
    );
    super::write_json(out, "dumps", &d)?;
    // The ELF dumps are as big as the guest: keep the figures, not the files.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One boot, one panic, `rounds` dumps per format into `dir` (deleted after measuring).
async fn measure(image: &dyn Target, accel: Accel, dir: &Path, rounds: u32) -> Result<DumpBench> {
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
