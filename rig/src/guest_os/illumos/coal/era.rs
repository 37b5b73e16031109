//! Which era of coal USB key an image is, told from the key itself: its partition table, the
//! partition its pcfs root lives on, and the boot configuration it carries.
//!
//! GRUB era (sdc-headnode before 252de200, 2019-04-03, OS-7260): an MBR whose first partition
//! is the pcfs root, GRUB reading `boot/grub/menu.lst`. Loader era (since): GPT with an EFI
//! System partition first and the pcfs root on a later one (slice 3 in sdc-headnode's
//! `buildtools/lib/common.sh`), loader reading `boot/loader.conf`. See `images/coal/README.md`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::fat::FatFs;

/// The boot configuration file a key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootConfig {
    /// GRUB legacy (Solaris GRUB): `boot/grub/menu.lst`.
    GrubMenu,
    /// illumos loader: `boot/loader.conf`.
    LoaderConf,
}

impl BootConfig {
    /// The file's path inside the pcfs root.
    pub fn path(self) -> &'static str {
        match self {
            BootConfig::GrubMenu => "boot/grub/menu.lst",
            BootConfig::LoaderConf => "boot/loader.conf",
        }
    }
}

/// The key's partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// A DOS/MBR table.
    Mbr,
    /// A GPT behind a protective MBR.
    Gpt,
}

/// What the rig knows of a key's layout: enough to decide which platforms can mount it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyShape {
    /// The partition table.
    pub table: Table,
    /// The number (from 1) of the partition holding the pcfs root (`os/`, `boot/`).
    pub root_partition: usize,
    /// The boot configuration it carries.
    pub boot: BootConfig,
}

impl KeyShape {
    /// The era's name, as the output and the manifest say it.
    pub fn era(&self) -> &'static str {
        match self.boot {
            BootConfig::GrubMenu => "GRUB era",
            BootConfig::LoaderConf => "loader era",
        }
    }

    /// Whether the pcfs root sits where a 2018 platform's `fs-joyent` looks for the key: the
    /// first partition of an MBR (`/dev/dsk/<disk>p0:1` or `p1`; smartos-live
    /// `overlay/generic/lib/svc/method/fs-joyent`).
    pub fn root_at_mbr_partition_1(&self) -> bool {
        self.table == Table::Mbr && self.root_partition == 1
    }

    /// One line for the output: `GRUB era key (MBR, pcfs root on partition 1, boot/grub/menu.lst)`.
    pub fn describe(&self) -> String {
        let table = match self.table {
            Table::Mbr => "MBR",
            Table::Gpt => "GPT",
        };
        format!("{} key ({table}, pcfs root on partition {}, {})", self.era(), self.root_partition, self.boot.path())
    }
}

/// Whether `image` has a GPT: a protective MBR entry (type 0xee) and `EFI PART` at LBA 1.
fn has_gpt(image: &Path) -> Result<bool> {
    let mut f = File::open(image).with_context(|| format!("opening {}", image.display()))?;
    let mut head = vec![0u8; 1024];
    f.seek(SeekFrom::Start(0))?;
    let n = f.read(&mut head)?;
    if n < 1024 || head[510..512] != [0x55, 0xaa] {
        return Ok(false);
    }
    let protective = (0..4).any(|i| head[446 + 16 * i + 4] == 0xee);
    Ok(protective && &head[512..520] == b"EFI PART")
}

/// The shape of the key in `image`, whose pcfs root `fat` has open. A root holding both boot
/// configurations is taken by its partition table (GPT: loader; MBR: GRUB); one holding neither
/// is refused, naming what was looked for.
pub fn detect(image: &Path, fat: &FatFs) -> Result<KeyShape> {
    let table = if has_gpt(image)? { Table::Gpt } else { Table::Mbr };
    let grub = fat.exists(BootConfig::GrubMenu.path());
    let loader = fat.exists(BootConfig::LoaderConf.path());
    let boot = match (grub, loader) {
        (true, false) => BootConfig::GrubMenu,
        (false, true) => BootConfig::LoaderConf,
        (true, true) if table == Table::Gpt => BootConfig::LoaderConf,
        (true, true) => BootConfig::GrubMenu,
        (false, false) => bail!(
            "the FAT partition has neither /boot/grub/menu.lst (a GRUB-era coal key) nor /boot/loader.conf (a \
             loader-era key): not a SmartOS/coal USB image"
        ),
    };
    Ok(KeyShape { table, root_partition: fat.partition.index, boot })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_mbr_first_partition_is_where_a_2018_platform_looks() {
        let grub = KeyShape { table: Table::Mbr, root_partition: 1, boot: BootConfig::GrubMenu };
        assert!(grub.root_at_mbr_partition_1());
        assert_eq!(grub.describe(), "GRUB era key (MBR, pcfs root on partition 1, boot/grub/menu.lst)");
        let loader = KeyShape { table: Table::Gpt, root_partition: 3, boot: BootConfig::LoaderConf };
        assert!(!loader.root_at_mbr_partition_1());
        assert!(!KeyShape { table: Table::Gpt, root_partition: 1, ..loader }.root_at_mbr_partition_1());
        assert!(!KeyShape { table: Table::Mbr, root_partition: 2, ..grub }.root_at_mbr_partition_1());
    }
}
