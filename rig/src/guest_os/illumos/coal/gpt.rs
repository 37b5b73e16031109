//! A GPT written whole, for the keys the rig makes (the loader-era test keys and the stand-in's
//! key): a protective MBR around the given boot code, the primary header and entry array at
//! LBA 1 and 2, and the backup entry array and header at the disk's end, with the CRC32s
//! (`crc32fast`) that Linux and firmware check. The layout of a real key (which partitions, what
//! types) is the caller's; the reader is [`super::parts::gpt`].
//!
//! Written by hand rather than with the `gpt` crate: that crate is not in the workspace's
//! locked tree, and what a fixed, fresh table needs is a hundred lines (UEFI spec 2.10 §5.3).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

const SECTOR: u64 = 512;
/// Entries in the array, as every partitioner writes it (32 sectors of 128-byte entries).
const ENTRIES: u32 = 128;
const ENTRY_SIZE: u32 = 128;
const ARRAY_SECTORS: u64 = (ENTRIES * ENTRY_SIZE) as u64 / SECTOR;
const HEADER_SIZE: u32 = 92;

/// Attribute bit 2: the partition a legacy BIOS boots (syslinux's `gptmbr.bin` looks for it).
pub const LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

/// EFI System partition, as stored (mixed-endian).
pub const EFI_SYSTEM: [u8; 16] =
    [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];
/// Microsoft basic data (a FAT root).
pub const BASIC_DATA: [u8; 16] =
    [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7];
/// BIOS boot partition (no file system).
pub const BIOS_BOOT: [u8; 16] =
    [0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6f, 0x6e, 0x74, 0x4e, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49];
/// Solaris/illumos reserved partition (`6a945a3b-1dd2-11b2-99a6-080020736631`), the key's slice 9.
pub const RESERVED: [u8; 16] =
    [0x3b, 0x5a, 0x94, 0x6a, 0xd2, 0x1d, 0xb2, 0x11, 0x99, 0xa6, 0x08, 0x00, 0x20, 0x73, 0x66, 0x31];

/// One partition: its number in the table (from 1), type, sectors and attributes.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// Its number (from 1); entries between numbers stay empty.
    pub index: u32,
    /// The type GUID, as stored.
    pub type_guid: [u8; 16],
    /// First sector.
    pub first: u64,
    /// Last sector (inclusive).
    pub last: u64,
    /// Attribute bits ([`LEGACY_BIOS_BOOTABLE`]).
    pub attributes: u64,
}

/// The first and last sectors a partition may use on a disk of `total` sectors.
pub fn usable(total: u64) -> (u64, u64) {
    (2 + ARRAY_SECTORS, total - 2 - ARRAY_SECTORS)
}

/// A GUID derived from `seed` (a fixed key gets the same GUIDs on every build), with the
/// version-4 and variant bits set.
fn guid(seed: &str) -> [u8; 16] {
    let h = Sha256::digest(seed.as_bytes());
    let mut g: [u8; 16] = h[..16].try_into().expect("16 bytes");
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    g
}

fn entry_array(parts: &[Part], seed: &str) -> Vec<u8> {
    let mut table = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    for p in parts {
        let at = (p.index as usize - 1) * ENTRY_SIZE as usize;
        let e = &mut table[at..at + ENTRY_SIZE as usize];
        e[0..16].copy_from_slice(&p.type_guid);
        e[16..32].copy_from_slice(&guid(&format!("{seed} partition {}", p.index)));
        e[32..40].copy_from_slice(&p.first.to_le_bytes());
        e[40..48].copy_from_slice(&p.last.to_le_bytes());
        e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
    }
    table
}

/// A header at `my_lba` whose twin is at `alternate` and whose entries start at `entries_lba`.
fn header(total: u64, my_lba: u64, alternate: u64, entries_lba: u64, disk: [u8; 16], array_crc: u32) -> Vec<u8> {
    let (first, last) = usable(total);
    let mut h = vec![0u8; SECTOR as usize];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
    h[24..32].copy_from_slice(&my_lba.to_le_bytes());
    h[32..40].copy_from_slice(&alternate.to_le_bytes());
    h[40..48].copy_from_slice(&first.to_le_bytes());
    h[48..56].copy_from_slice(&last.to_le_bytes());
    h[56..72].copy_from_slice(&disk);
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[80..84].copy_from_slice(&ENTRIES.to_le_bytes());
    h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
    h[88..92].copy_from_slice(&array_crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..HEADER_SIZE as usize]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

fn write_at(f: &File, sector: u64, data: &[u8]) -> io::Result<()> {
    let mut w = f;
    w.seek(SeekFrom::Start(sector * SECTOR))?;
    w.write_all(data)
}

/// Writes the protective MBR (with `boot_code`, at most 440 bytes), both headers and both entry
/// arrays on `f`, a disk of `total` sectors. `seed` makes the disk's and partitions' GUIDs.
/// A partition outside the usable sectors, or numbered 0 or past the array, is an error.
pub fn write(f: &File, total: u64, boot_code: &[u8], parts: &[Part], seed: &str) -> io::Result<()> {
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    if boot_code.len() > 440 {
        return Err(bad(format!("boot code of {} bytes: the MBR holds 440", boot_code.len())));
    }
    let (first, last) = usable(total);
    for p in parts {
        if p.index == 0 || p.index > ENTRIES || p.first < first || p.last > last || p.last < p.first {
            return Err(bad(format!(
                "GPT partition {} (sectors {}-{}) is not within sectors {first}-{last} of entries 1-{ENTRIES}",
                p.index, p.first, p.last
            )));
        }
    }
    let mut mbr = vec![0u8; SECTOR as usize];
    mbr[..boot_code.len()].copy_from_slice(boot_code);
    let e = &mut mbr[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS 0/0/2: LBA 1
    e[4] = 0xee;
    e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&u32::try_from(total - 1).unwrap_or(u32::MAX).to_le_bytes());
    mbr[510..512].copy_from_slice(&[0x55, 0xaa]);

    let array = entry_array(parts, seed);
    let array_crc = crc32fast::hash(&array);
    let disk = guid(&format!("{seed} disk"));
    let backup_array = total - 1 - ARRAY_SECTORS;
    write_at(f, 0, &mbr)?;
    write_at(f, 1, &header(total, 1, total - 1, 2, disk, array_crc))?;
    write_at(f, 2, &array)?;
    write_at(f, backup_array, &array)?;
    write_at(f, total - 1, &header(total, total - 1, 1, backup_array, disk, array_crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// Both headers' and arrays' CRCs hold, each header points at its twin, and the rig's own
    /// reader finds the partitions where they were written.
    #[test]
    fn writes_both_tables_with_their_crcs() {
        let path = std::env::temp_dir().join(format!("rig-gpt-{}.img", std::process::id()));
        let total = 8192;
        let f = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        f.set_len(total * SECTOR).unwrap();
        let parts = [
            Part { index: 1, type_guid: EFI_SYSTEM, first: 34, last: 2047, attributes: 0 },
            Part { index: 3, type_guid: BASIC_DATA, first: 2048, last: 8000, attributes: LEGACY_BIOS_BOOTABLE },
            Part { index: 9, type_guid: RESERVED, first: 8001, last: 8157, attributes: 0 },
        ];
        write(&f, total, &[0xeb; 440], &parts, "test").unwrap();
        let disk = std::fs::read(&path).unwrap();
        let sector = |n: u64| &disk[(n * SECTOR) as usize..((n + 1) * SECTOR) as usize];
        assert_eq!(&sector(0)[..440], &[0xeb; 440][..]);
        assert_eq!((sector(0)[446 + 4], &sector(0)[510..]), (0xee, &[0x55, 0xaa][..]));
        for (lba, twin) in [(1, total - 1), (total - 1, 1)] {
            let mut h = sector(lba)[..92].to_vec();
            let crc = u32_at(&h, 16);
            h[16..20].fill(0);
            assert_eq!(crc32fast::hash(&h), crc, "header at {lba}");
            assert_eq!((u64_at(&h, 24), u64_at(&h, 32)), (lba, twin));
            let at = (u64_at(&h, 72) * SECTOR) as usize;
            assert_eq!(crc32fast::hash(&disk[at..at + 16384]), u32_at(&h, 88), "array of header {lba}");
        }
        let found = crate::guest_os::illumos::coal::parts::gpt(sector(1), total * SECTOR, &mut |off, len| {
            Ok(disk[off as usize..off as usize + len].to_vec())
        })
        .unwrap()
        .unwrap();
        let spans: Vec<(usize, u64, bool)> = found.iter().map(|p| (p.index, p.start / SECTOR, p.fat_type)).collect();
        assert_eq!(spans, [(1, 34, true), (3, 2048, true), (9, 8001, false)]);
        assert_eq!(u64_at(&disk, 2 * 512 + 2 * 128 + 48), LEGACY_BIOS_BOOTABLE, "partition 3's attributes");
        let e = write(&f, total, &[], &[Part { last: 8159, ..parts[2] }], "test").unwrap_err();
        assert!(e.to_string().starts_with("GPT partition 9 (sectors 8001-8159) is not within sectors 34-8158"), "{e}");
        std::fs::remove_file(&path).unwrap();
    }
}
