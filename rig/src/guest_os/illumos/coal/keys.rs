//! Empty USB keys in the layout of each era, for images made in tests (no real coal key can be
//! downloaded here): the partition table and boot-code markers the build tools write, and a
//! formatted FAT root for the test to fill.
//!
//! GRUB era: an MBR whose partition 1 is FAT32 and whose boot code carries GRUB legacy's
//! compatibility version 3.2 at offset 0x3e. Loader era: a protective MBR whose byte 0xfa is
//! `format_image`'s image major version 2, and a GPT with an EFI System partition (1), a boot
//! partition without a file system (2), the FAT root (3) and a reserved partition (9) (sdc-headnode
//! `buildtools/lib/common.sh`; the markers are the ones smartos-live's `usb-key.sh` reads).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use super::fat::{Slice, create_image};
use super::gpt::{self, Part};

const SECTOR: u64 = 512;

/// A GRUB-era key of `size_mib`: MBR, FAT32 on partition 1, GRUB's version bytes.
pub fn grub_key(path: &Path, size_mib: u64) -> io::Result<()> {
    create_image(path, size_mib)?;
    let mut f = File::options().write(true).open(path)?;
    f.seek(SeekFrom::Start(0x3e))?;
    f.write_all(&[0x03, 0x02])
}

/// Formats a FAT volume on the sectors given and creates `dir` (with its parents) in it.
pub fn format(f: &File, first: u64, sectors: u64, label: &[u8; 11], dir: &str) -> io::Result<()> {
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

/// The loader-era key's partitions on a disk of `total` sectors: an 8 MiB EFI System partition
/// (1) from 1 MiB, a 1 MiB boot partition (2), the root (3, with `root_attributes`) and an 8 MiB
/// reserved partition (9) ending at the last usable sector.
pub fn loader_layout(total: u64, root_attributes: u64) -> [Part; 4] {
    let last = gpt::usable(total).1;
    let reserved = last - 16384 + 1;
    let part = |index, type_guid, first, last, attributes| Part { index, type_guid, first, last, attributes };
    [
        part(1, gpt::EFI_SYSTEM, 2048, 2048 + 16384 - 1, 0),
        part(2, gpt::BIOS_BOOT, 18432, 18432 + 2048 - 1, 0),
        part(3, gpt::BASIC_DATA, 20480, reserved - 1, root_attributes),
        part(9, gpt::RESERVED, reserved, last, 0),
    ]
}

/// A loader-era key of `size_mib` (at least 48): protective MBR, GPT (both copies, CRCs
/// checked by [`gpt::write`]'s test) with an 8 MiB EFI System partition (FAT, holding
/// `EFI/BOOT/`), a 1 MiB boot partition, the FAT root on partition 3 (holding `boot/`, so
/// [`super::fat::FatFs::open`] finds it as it finds a real one) and an 8 MiB reserved partition 9.
pub fn loader_key(path: &Path, size_mib: u64) -> io::Result<()> {
    let total = size_mib * 1024 * 1024 / SECTOR;
    let f = File::options().read(true).write(true).create_new(true).open(path)?;
    f.set_len(total * SECTOR)?;
    let parts = loader_layout(total, 0);
    let (esp, root) = (&parts[0], &parts[2]);
    gpt::write(&f, total, &[], &parts, "rig test key")?;
    // format_image's image major version, where usb-key.sh reads it.
    let mut w = &f;
    w.seek(SeekFrom::Start(0xfa))?;
    w.write_all(&[2])?;
    format(&f, esp.first, esp.last - esp.first + 1, b"ESP        ", "EFI/BOOT")?;
    format(&f, root.first, root.last - root.first + 1, b"ROOT       ", "boot")
}
