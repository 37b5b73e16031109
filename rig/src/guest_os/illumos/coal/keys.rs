//! Empty USB keys in the layout of each era, for images made in tests (no real coal key can be
//! downloaded here): the partition table and boot-code markers the build tools write, and a
//! formatted FAT root for the test to fill.
//!
//! GRUB era: an MBR whose partition 1 is FAT32 and whose boot code carries GRUB legacy's
//! compatibility version 3.2 at offset 0x3e. Loader era: a protective MBR whose byte 0xfa is
//! `format_image`'s image major version 2, and a GPT with an EFI System partition (1), a boot
//! partition without a file system (2) and the FAT root (3) (sdc-headnode
//! `buildtools/lib/common.sh`; the markers are the ones smartos-live's `usb-key.sh` reads).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use super::fat::{Slice, create_image};
use super::parts;

const SECTOR: u64 = 512;
const EFI_SYSTEM: [u8; 16] =
    [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];
const BASIC_DATA: [u8; 16] =
    [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7];
/// BIOS boot partition (no file system).
const BIOS_BOOT: [u8; 16] =
    [0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6f, 0x6e, 0x74, 0x4e, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49];

/// A GRUB-era key of `size_mib`: MBR, FAT32 on partition 1, GRUB's version bytes.
pub fn grub_key(path: &Path, size_mib: u64) -> io::Result<()> {
    create_image(path, size_mib)?;
    let mut f = File::options().write(true).open(path)?;
    f.seek(SeekFrom::Start(0x3e))?;
    f.write_all(&[0x03, 0x02])
}

/// Formats a FAT volume on the sectors given and creates `dir` (with its parents) in it.
fn format(f: &File, first: u64, sectors: u64, label: &[u8; 11], dir: &str) -> io::Result<()> {
    let slice = || Slice::new(f.try_clone()?, first * SECTOR, sectors * SECTOR);
    fatfs::format_volume(slice()?, fatfs::FormatVolumeOptions::new().volume_label(*label))?;
    let fs = fatfs::FileSystem::new(slice()?, fatfs::FsOptions::new())?;
    let mut at = fs.root_dir();
    for part in dir.split('/') {
        at = at.create_dir(part)?;
    }
    drop(at);
    fs.unmount()
}

/// A loader-era key of `size_mib` (at least 48): protective MBR, GPT with an 8 MiB EFI System
/// partition (FAT, holding `EFI/BOOT/`), a 1 MiB boot partition and the FAT root on partition
/// 3 (holding `boot/`, so [`super::fat::FatFs::open`] finds it as it finds a real one).
pub fn loader_key(path: &Path, size_mib: u64) -> io::Result<()> {
    let total = size_mib * 1024 * 1024 / SECTOR;
    let f = File::options().read(true).write(true).create_new(true).open(path)?;
    f.set_len(total * SECTOR)?;
    let mut s0 = vec![0u8; 512];
    parts::write_mbr(&mut s0, 0xee, 1, u32::try_from(total - 1).unwrap_or(u32::MAX));
    s0[0xfa] = 2;
    let (esp, boot, root): ((u64, u64), (u64, u64), (u64, u64)) =
        ((2048, 2048 + 16384 - 1), (18432, 18432 + 2048 - 1), (20480, total - 34));
    let mut header = vec![0u8; 512];
    header[0..8].copy_from_slice(b"EFI PART");
    header[72..80].copy_from_slice(&2u64.to_le_bytes());
    header[80..84].copy_from_slice(&128u32.to_le_bytes());
    header[84..88].copy_from_slice(&128u32.to_le_bytes());
    let mut table = vec![0u8; 128 * 128];
    for (i, (ty, (first, last))) in [(EFI_SYSTEM, esp), (BIOS_BOOT, boot), (BASIC_DATA, root)].into_iter().enumerate() {
        let e = &mut table[i * 128..(i + 1) * 128];
        e[0..16].copy_from_slice(&ty);
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
    }
    let mut w = &f;
    w.write_all(&s0)?;
    w.write_all(&header)?;
    w.write_all(&table)?;
    format(&f, esp.0, esp.1 - esp.0 + 1, b"ESP        ", "EFI/BOOT")?;
    format(&f, root.0, root.1 - root.0 + 1, b"ROOT       ", "boot")
}
