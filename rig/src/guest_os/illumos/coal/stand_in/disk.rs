//! The stand-in's USB image, shaped like coal's: a sparse raw disk with syslinux's `mbr.bin`,
//! one active FAT32 partition holding `/boot/loader.conf`, `/os/<PI>/platform/...`,
//! `/private/`, `/config.inc/`, and (unlike coal) syslinux, its `syslinux.cfg`, the Linux
//! kernel and the stand-in initrd. The FAT is made with `fatfs`; syslinux is installed by
//! Debian's `syslinux` installer (mtools flavour) unpacked in the build directory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::recipe::{self, SHIPPED_PLATFORM};
use crate::guest_os::illumos::coal::fat::{FatFs, Slice};
use crate::guest_os::illumos::coal::parts::write_mbr;

/// The image's size: plenty for an 8 MiB kernel and a 10 MiB initrd, and sparse anyway.
pub const IMAGE_MIB: u64 = 128;
/// The partition's first sector (1 MiB, as partitioners align).
const START_LBA: u32 = 2048;
/// FAT32 needs at least 65525 clusters: 1 KiB clusters give ~130000 in 127 MiB.
const CLUSTER_BYTES: u32 = 1024;
/// MBR type 0x0c: FAT32 with LBA.
const FAT32_LBA: u8 = 0x0c;
/// Where the kernel and the initrd go on the FAT partition (8.3 names, as syslinux.cfg says).
pub const KERNEL_PATH: &str = "standin/vmlinuz";
/// The initrd's path on the partition.
pub const INITRD_PATH: &str = "standin/initrd.gz";

/// What goes on the image besides the recipe files.
pub struct DiskInputs<'a> {
    /// The Linux bzImage syslinux boots.
    pub kernel: &'a Path,
    /// The stand-in initrd (base initrd + overlay).
    pub initrd: &'a Path,
    /// The unpacked Debian packages (`usr/bin/syslinux`, `usr/bin/mtools`, `usr/lib/syslinux/mbr/mbr.bin`).
    pub pkg: &'a Path,
}

/// The partition of the image file: the whole disk as `fatfs` sees it.
fn window(path: &Path) -> io::Result<Slice> {
    let file = File::options().read(true).write(true).open(path)?;
    let start = START_LBA as u64 * 512;
    Slice::new(file, start, IMAGE_MIB * 1024 * 1024 - start)
}

/// The files of the FAT partition, path → contents (the kernel and initrd are added apart).
fn fat_files() -> Vec<(String, Vec<u8>)> {
    let pi = SHIPPED_PLATFORM;
    let os = format!("os/{pi}/platform/i86pc");
    vec![
        // fs-joyent mounts a pcfs as the USB key only when it holds this file.
        (".joyliveusb".into(), Vec::new()),
        ("boot/loader.conf".into(), recipe::file("loader.conf").into()),
        (format!("{os}/kernel/amd64/unix"), recipe::unix_text(pi, false, true).into_bytes()),
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

/// Makes the USB image at `path` (which must not exist).
pub fn make_usb_image(path: &Path, inputs: &DiskInputs<'_>) -> Result<()> {
    let total = IMAGE_MIB * 1024 * 1024;
    let sectors = (total / 512 - START_LBA as u64) as u32;
    {
        let f = File::options().write(true).create_new(true).open(path)?;
        f.set_len(total)?;
    }
    let mbr_code = std::fs::read(inputs.pkg.join("usr/lib/syslinux/mbr/mbr.bin")).context("reading mbr.bin")?;
    if mbr_code.len() > 440 {
        bail!("mbr.bin is {} bytes, more than the MBR's 440 bytes of boot code", mbr_code.len());
    }
    let mut s0 = vec![0u8; 512];
    s0[..mbr_code.len()].copy_from_slice(&mbr_code);
    write_mbr(&mut s0, FAT32_LBA, START_LBA, sectors);
    s0[446] = 0x80; // active: mbr.bin boots the active partition
    write_at(path, 0, &s0)?;

    let opts = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_cluster(CLUSTER_BYTES)
        .volume_label(*b"HEADNODE   ");
    fatfs::format_volume(window(path)?, opts).context("formatting the FAT32 partition")?;
    set_hidden_sectors(path)?;

    let fs = fatfs::FileSystem::new(window(path)?, fatfs::FsOptions::new()).context("opening the new FAT")?;
    {
        let root = fs.root_dir();
        for (inner, data) in fat_files() {
            put(&root, &inner, &mut &data[..]).with_context(|| format!("writing /{inner}"))?;
        }
        for (inner, from) in [(KERNEL_PATH, inputs.kernel), (INITRD_PATH, inputs.initrd)] {
            let mut f = File::open(from).with_context(|| format!("opening {}", from.display()))?;
            put(&root, inner, &mut f).with_context(|| format!("writing /{inner}"))?;
        }
    }
    fs.unmount().context("flushing the FAT")?;

    install_syslinux(path, inputs.pkg)?;
    let fat = FatFs::open(path)?;
    for f in ["ldlinux.sys", "ldlinux.c32", "boot/loader.conf", KERNEL_PATH] {
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
fn set_hidden_sectors(path: &Path) -> Result<()> {
    let base = START_LBA as u64 * 512;
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
        write_at(path, base + sector * 512 + 0x1c, &START_LBA.to_le_bytes())?;
    }
    Ok(())
}

/// `syslinux --offset <bytes> --install <image>`, with the unpacked mtools first on PATH.
fn install_syslinux(image: &Path, pkg: &Path) -> Result<()> {
    let bin: PathBuf = pkg.join("usr/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))?;
    let offset = (START_LBA as u64 * 512).to_string();
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
