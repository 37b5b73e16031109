//! The stand-in's USB images, each in the layout of its era: a sparse raw disk whose FAT root
//! holds `/.joyliveusb`, the era's boot configuration, `/os/<PI>/platform/...`, `/private/`,
//! `/config.inc/`, and (unlike coal) syslinux, its `syslinux.cfg`, the Linux kernel and the
//! stand-in initrd.
//!
//! GRUB era: an MBR with syslinux's `mbr.bin` and one active FAT32 partition (1) holding
//! `boot/grub/menu.lst`. Loader era: a protective MBR with syslinux's `gptmbr.bin` and a GPT laid
//! out as sdc-headnode's `buildtools/lib/common.sh` says: 1 EFI System (FAT), 2 boot (no file
//! system), 3 the FAT32 root (legacy-BIOS-bootable: `gptmbr.bin` boots it) holding
//! `boot/loader.conf`, 9 reserved. The FATs are made with `fatfs`; syslinux is installed on the
//! root by Debian's `syslinux` installer (mtools flavour) unpacked in the build directory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::recipe::{self, GRUB_PLATFORM, LOADER_PLATFORM};
use crate::guest_os::illumos::coal::fat::{FatFs, Slice};
use crate::guest_os::illumos::coal::gpt;
use crate::guest_os::illumos::coal::keys::loader_layout;
use crate::guest_os::illumos::coal::parts::write_mbr;

/// The image's size: plenty for an 8 MiB kernel and a 10 MiB initrd, and sparse anyway.
pub const IMAGE_MIB: u64 = 128;
const SECTOR: u64 = 512;
/// The GRUB-era key's partition starts at 1 MiB, as partitioners align.
const MBR_ROOT_LBA: u64 = 2048;
/// FAT32 needs at least 65525 clusters: 1 KiB clusters give over 100000 in either root.
const CLUSTER_BYTES: u32 = 1024;
/// MBR type 0x0c: FAT32 with LBA.
const FAT32_LBA: u8 = 0x0c;
/// Where the kernel and the initrd go on the FAT partition (8.3 names, as syslinux.cfg says).
pub const KERNEL_PATH: &str = "standin/vmlinuz";
/// The initrd's path on the partition.
pub const INITRD_PATH: &str = "standin/initrd.gz";

/// Which era's key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// MBR, FAT root on partition 1, `boot/grub/menu.lst`, platform [`GRUB_PLATFORM`].
    Grub,
    /// GPT, FAT root on partition 3, `boot/loader.conf`, platform [`LOADER_PLATFORM`].
    Loader,
}

impl Era {
    /// The root partition's first and last sector on an image of `total` sectors.
    fn root(self, total: u64) -> (u64, u64) {
        match self {
            Era::Grub => (MBR_ROOT_LBA, total - 1),
            Era::Loader => {
                let root = loader_layout(total, 0)[2];
                (root.first, root.last)
            }
        }
    }

    /// The platform the key ships and the boot configuration (path, contents).
    fn contents(self) -> (&'static str, &'static str, String) {
        match self {
            Era::Grub => (GRUB_PLATFORM, "boot/grub/menu.lst", recipe::file("menu.lst").into()),
            Era::Loader => (LOADER_PLATFORM, "boot/loader.conf", recipe::file("loader.conf").into()),
        }
    }
}

/// What goes on the image besides the recipe files.
pub struct DiskInputs<'a> {
    /// The Linux bzImage syslinux boots.
    pub kernel: &'a Path,
    /// The stand-in initrd (base initrd + overlay).
    pub initrd: &'a Path,
    /// The unpacked Debian packages (`usr/bin/syslinux`, `usr/bin/mtools`, `usr/lib/syslinux/mbr/`).
    pub pkg: &'a Path,
}

/// The sectors `first..=last` of the image file, as `fatfs` sees a disk.
fn window(path: &Path, (first, last): (u64, u64)) -> io::Result<Slice> {
    let file = File::options().read(true).write(true).open(path)?;
    Slice::new(file, first * SECTOR, (last - first + 1) * SECTOR)
}

/// The files of the FAT root, path → contents (the kernel and initrd are added apart).
fn fat_files(era: Era) -> Vec<(String, Vec<u8>)> {
    let (pi, config, text) = era.contents();
    let os = format!("os/{pi}/platform/i86pc");
    let unix = match era {
        Era::Grub => recipe::unix_text(pi, false, true),
        Era::Loader => recipe::usb_key_unix_text(pi, false, true),
    };
    vec![
        // fs-joyent mounts a pcfs as the USB key only when it holds this file.
        (".joyliveusb".into(), Vec::new()),
        (config.into(), text.into_bytes()),
        (format!("{os}/kernel/amd64/unix"), unix.into_bytes()),
        (format!("{os}/amd64/boot_archive"), format!("stand-in boot archive of platform {pi}\n").into_bytes()),
        (format!("private/root.password.{pi}"), b"root\n".to_vec()),
        ("config.inc/generic".into(), b"# stand-in: coal's generic config\nadminui_admin_ips=10.99.99.0\n".to_vec()),
        ("syslinux.cfg".into(), recipe::file("syslinux.cfg").into()),
    ]
}

fn create_dirs(root: &fatfs::Dir<'_, Slice>, path: &str) -> io::Result<()> {
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(part);
        root.create_dir(&at)?;
    }
    Ok(())
}

fn put(root: &fatfs::Dir<'_, Slice>, inner: &str, data: &mut dyn Read) -> io::Result<()> {
    if let Some((dirs, _)) = inner.rsplit_once('/') {
        create_dirs(root, dirs)?;
    }
    let mut f = root.create_file(inner)?;
    f.truncate()?;
    io::copy(data, &mut f)?;
    f.flush()
}

/// Writes the partition table and the boot code of `era`'s key (`mbr.bin` or `gptmbr.bin`).
fn partition(path: &Path, era: Era, total: u64, pkg: &Path) -> Result<()> {
    let code_file = match era {
        Era::Grub => "mbr.bin",
        Era::Loader => "gptmbr.bin",
    };
    let code = std::fs::read(pkg.join("usr/lib/syslinux/mbr").join(code_file))
        .with_context(|| format!("reading syslinux's {code_file}"))?;
    if code.len() > 440 {
        bail!("{code_file} is {} bytes, more than the MBR's 440 bytes of boot code", code.len());
    }
    match era {
        Era::Grub => {
            let root = era.root(total);
            let mut s0 = vec![0u8; 512];
            s0[..code.len()].copy_from_slice(&code);
            write_mbr(&mut s0, FAT32_LBA, root.0 as u32, (root.1 - root.0 + 1) as u32);
            s0[446] = 0x80; // active: mbr.bin boots the active partition
            write_at(path, 0, &s0)
        }
        Era::Loader => {
            let parts = loader_layout(total, gpt::LEGACY_BIOS_BOOTABLE);
            let f = File::options().read(true).write(true).open(path)?;
            gpt::write(&f, total, &code, &parts, "coal stand-in").context("writing the GPT")?;
            // The EFI System partition is a pcfs, as on a real key (nothing here boots from it).
            let esp = &parts[0];
            crate::guest_os::illumos::coal::keys::format(
                &f,
                esp.first,
                esp.last - esp.first + 1,
                b"ESP        ",
                "EFI/BOOT",
            )
            .context("formatting the EFI System partition")
        }
    }
}

/// Makes `era`'s USB image at `path` (which must not exist).
pub fn make_usb_image(path: &Path, era: Era, inputs: &DiskInputs<'_>) -> Result<()> {
    let total = IMAGE_MIB * 1024 * 1024 / SECTOR;
    {
        let f = File::options().write(true).create_new(true).open(path)?;
        f.set_len(total * SECTOR)?;
    }
    partition(path, era, total, inputs.pkg)?;
    let root = era.root(total);
    let opts = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_cluster(CLUSTER_BYTES)
        .volume_label(*b"HEADNODE   ");
    fatfs::format_volume(window(path, root)?, opts).context("formatting the FAT32 root")?;
    set_hidden_sectors(path, root.0)?;

    let fs = fatfs::FileSystem::new(window(path, root)?, fatfs::FsOptions::new()).context("opening the new FAT")?;
    {
        let root = fs.root_dir();
        for (inner, data) in fat_files(era) {
            put(&root, &inner, &mut &data[..]).with_context(|| format!("writing /{inner}"))?;
        }
        for (inner, from) in [(KERNEL_PATH, inputs.kernel), (INITRD_PATH, inputs.initrd)] {
            let mut f = File::open(from).with_context(|| format!("opening {}", from.display()))?;
            put(&root, inner, &mut f).with_context(|| format!("writing /{inner}"))?;
        }
    }
    fs.unmount().context("flushing the FAT")?;

    install_syslinux(path, root.0 * SECTOR, inputs.pkg)?;
    let fat = FatFs::open(path)?;
    if fat.partition.index != if era == Era::Grub { 1 } else { 3 } {
        bail!("{}: the rig finds the FAT root on partition {}", path.display(), fat.partition.index);
    }
    for f in ["ldlinux.sys", "ldlinux.c32", era.contents().1, KERNEL_PATH] {
        if !fat.exists(f) {
            bail!("{}: /{f} is missing after the build", path.display());
        }
    }
    Ok(())
}

fn write_at(path: &Path, offset: u64, data: &[u8]) -> Result<()> {
    let mut f = File::options().write(true).open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(data).with_context(|| format!("writing {}", path.display()))
}

/// The BPB's hidden-sectors field (the partition's offset in sectors), in the boot sector and
/// its FAT32 backup: `fatfs` leaves 0, a boot sector on a partitioned disk wants the offset.
fn set_hidden_sectors(path: &Path, first: u64) -> Result<()> {
    let base = first * SECTOR;
    let mut f = File::open(path)?;
    let mut bs = [0u8; 512];
    f.seek(SeekFrom::Start(base))?;
    f.read_exact(&mut bs)?;
    let backup = u16::from_le_bytes([bs[0x32], bs[0x33]]) as u64;
    let mut sectors = vec![0];
    if (1..32).contains(&backup) {
        sectors.push(backup);
    }
    for sector in sectors {
        write_at(path, base + sector * SECTOR + 0x1c, &(first as u32).to_le_bytes())?;
    }
    Ok(())
}

/// `syslinux --offset <bytes> --install <image>`, with the unpacked mtools first on PATH.
fn install_syslinux(image: &Path, offset: u64, pkg: &Path) -> Result<()> {
    let bin: PathBuf = pkg.join("usr/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))?;
    let offset = offset.to_string();
    let out = Command::new(bin.join("syslinux"))
        .args(["--offset", &offset, "--install"])
        .arg(image)
        .env("PATH", path)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .context("running the unpacked syslinux installer")?;
    if !out.status.success() {
        bail!(
            "syslinux --offset {offset} --install {} failed ({}): {}{}",
            image.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
