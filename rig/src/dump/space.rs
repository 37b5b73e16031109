//! Free space before a dump: a dump that cannot fit is not started (QEMU would fill the disk
//! and fail half-way, and the run's other evidence would have no room left).

use std::path::Path;

use super::host::DumpFormat;

const MIB: u64 = 1024 * 1024;

/// Room left free after a dump, for the evidence that follows it (console logs, triage,
/// `report.json`).
pub const MARGIN: u64 = 64 * MIB;

/// Room an ELF core takes on top of the guest's RAM (ELF, program and note headers).
const ELF_HEADERS: u64 = MIB;

/// The bytes a dump of a guest with `ram` bytes of memory may need, [`MARGIN`] included.
/// An ELF core holds all of RAM. A kdump file's size depends on how well the memory
/// compresses, known only once written: a quarter of RAM is assumed (the Linux guest's
/// dumps are 5–8% of it).
pub fn needed(format: DumpFormat, ram: u64) -> u64 {
    let dump = match format {
        DumpFormat::Elf => ram + ELF_HEADERS,
        DumpFormat::KdumpZlib => ram / 4,
    };
    dump + MARGIN
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`, if it can be asked.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Why a dump needing `needed` bytes must not start in `dir` with `free` bytes free, if so.
/// Pure.
pub fn shortfall(dir: &Path, free: u64, needed: u64) -> Option<String> {
    (free < needed).then(|| {
        format!(
            "not enough free space: {:.0} MiB free in {}, the dump may need {:.0} MiB (with {} MiB left for the rest of the evidence)",
            free as f64 / MIB as f64,
            dir.display(),
            needed as f64 / MIB as f64,
            MARGIN / MIB
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_all_of_ram_for_elf_and_a_quarter_for_kdump() {
        let ram = 512 * MIB;
        assert_eq!(needed(DumpFormat::Elf, ram), 513 * MIB + MARGIN);
        assert_eq!(needed(DumpFormat::KdumpZlib, ram), 128 * MIB + MARGIN);
    }

    #[test]
    fn a_dump_that_does_not_fit_is_refused_with_both_sizes() {
        let dir = Path::new("/runs/r1");
        assert_eq!(shortfall(dir, 200 * MIB, 192 * MIB), None);
        assert_eq!(shortfall(dir, 192 * MIB, 192 * MIB), None, "exactly enough is enough");
        let why = shortfall(dir, 100 * MIB, 577 * MIB).expect("100 MiB free is short of 577 MiB");
        assert!(why.contains("100 MiB free in /runs/r1") && why.contains("may need 577 MiB"), "{why}");
    }

    #[test]
    fn free_space_is_read_from_the_filesystem() {
        let free = free_bytes(Path::new("/")).expect("statvfs of /");
        assert!(free > 0);
        assert_eq!(free_bytes(Path::new("/no/such/dir")), None);
    }
}
