//! Files in the FAT (pcfs) partition of a raw USB image, read and written with the pure-Rust
//! `fatfs` crate.
//!
//! Why `fatfs` and a raw copy: it needs no host tools (mtools, dosfstools) and no root
//! (qemu-nbd needs the nbd kernel module), so image preparation and its tests run anywhere the
//! rig builds. It works on any `Read + Write + Seek`, here a window onto the partition of a raw
//! file. The rig therefore edits its own raw, sparse working copy of the USB image (never the
//! user's file); QEMU then boots a qcow2 overlay on top of that copy, so runs and snapshots
//! never touch it either.
//!
//! Why the checks before `fatfs`: it trusts the image. A crafted boot sector or cluster number
//! overflows its arithmetic, and a cluster chain that loops makes it read a directory for ever.
//! So the partition table ([`parts`]), the boot sector ([`bpb`]) and the FAT and directories
//! ([`clusters`]) are checked first, file reads are capped ([`MAX_READ`]) and the window
//! `fatfs` reads through ([`Slice`]) bounds what it may read in all.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::parts::{self, Partition};
use super::{bpb, clusters};

/// A FAT problem, naming the image file.
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    /// No partition of the image holds a FAT file system.
    #[error(
        "{file}: no FAT partition found ({found}); expected a SmartOS USB image whose first partition is FAT (pcfs)"
    )]
    NoFat {
        /// The image.
        file: PathBuf,
        /// What the partition table held.
        found: String,
    },
    /// The partition table or a FAT volume is malformed: refused before anything follows it.
    #[error("{file}: {what}")]
    Invalid {
        /// The image.
        file: PathBuf,
        /// What is wrong, naming the partition and field.
        what: String,
    },
    /// A file the rig needs is not on the image.
    #[error("{file}: the FAT partition has no {inner}")]
    Missing {
        /// The image.
        file: PathBuf,
        /// The path inside the partition.
        inner: String,
    },
    /// Reading or writing failed.
    #[error("{file}: {what}: {err}")]
    Io {
        /// The image.
        file: PathBuf,
        /// What was being done.
        what: String,
        /// The error.
        err: io::Error,
    },
}

/// The largest file [`FatFs::read`] reads: a crafted size cannot make it allocate gigabytes.
pub const MAX_READ: u64 = 16 << 20;

/// A window onto part of a file: what `fatfs` sees as its whole disk.
///
/// It also bounds what `fatfs` may read through it, as a last guard against a traversal that
/// does not end (the volume is checked before `fatfs` gets it, see [`super::clusters`]): four
/// times the partition plus 64 MiB. The rig reads through one `Slice` a few directories, two
/// small files ([`MAX_READ`] at most) and, while it writes, the FAT about twice (free-cluster
/// searches start where the last one stopped), so a sound image stays far below that.
pub struct Slice {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
    read_left: u64,
}

impl Slice {
    /// The `len` bytes of `file` from `start` on.
    pub fn new(mut file: File, start: u64, len: u64) -> io::Result<Slice> {
        file.seek(SeekFrom::Start(start))?;
        Ok(Slice { file, start, len, pos: 0, read_left: len.saturating_mul(4).saturating_add(64 << 20) })
    }
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n as u64 > self.read_left {
            return Err(io::Error::other(
                "read more than four times the partition (plus 64 MiB): a loop in the FAT file system's structures",
            ));
        }
        let n = self.file.read(&mut buf[..n])?;
        self.pos += n as u64;
        self.read_left -= n as u64;
        Ok(n)
    }
}

impl Write for Slice {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the end of the partition"));
        }
        let n = self.file.write(&buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Slice {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
        };
        if pos < 0 || pos > self.len as i128 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition"));
        }
        self.pos = pos as u64;
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        Ok(self.pos)
    }
}

/// The FAT file system of an image, open for reading and writing. Call [`FatFs::close`] to
/// flush it; edits are not guaranteed on disk before that.
pub struct FatFs {
    file: PathBuf,
    fs: fatfs::FileSystem<Slice>,
    /// The partition it lives in.
    pub partition: Partition,
}

/// The image's partitions and a description of its table for [`FatError::NoFat`]. A table that
/// does not fit the image is [`FatError::Invalid`].
fn partitions(file: &Path, f: &mut File) -> Result<(Vec<Partition>, String), FatError> {
    let io_err = |err| FatError::Io { file: file.to_path_buf(), what: "reading the partition table".into(), err };
    let invalid = |what| FatError::Invalid { file: file.to_path_buf(), what };
    let image_len = f.metadata().map_err(io_err)?.len();
    let mut head = vec![0u8; 1024];
    f.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let n = f.read(&mut head).map_err(io_err)?;
    head.truncate(n);
    let Some(mbr) = parts::mbr(&head, image_len).map_err(invalid)? else {
        return Ok((Vec::new(), format!("no partition table: {} has no MBR boot signature", file.display())));
    };
    if mbr.iter().any(|(_, ty)| *ty == 0xee) && head.len() >= 1024 {
        let mut read = |off: u64, len: usize| read_at(f, off, len);
        if let Some(g) = parts::gpt(&head[512..1024], image_len, &mut read).map_err(invalid)? {
            let desc =
                format!("GPT with {} partition(s), {} of a FAT type", g.len(), g.iter().filter(|p| p.fat_type).count());
            return Ok((g, desc));
        }
    }
    let desc = if mbr.is_empty() {
        "an MBR with no partitions".to_string()
    } else {
        let types: Vec<String> = mbr.iter().map(|(p, ty)| format!("{}: type 0x{ty:02x}", p.index)).collect();
        format!("MBR partitions {}", types.join(", "))
    };
    Ok((mbr.into_iter().map(|(p, _)| p).collect(), desc))
}

/// `len` bytes of `f` at `offset`.
fn read_at(f: &mut File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; len];
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(&mut b)?;
    Ok(b)
}

/// Checks partition `p`'s boot sector, FAT and directories (see [`bpb`] and [`clusters`]) before
/// `fatfs` is given them. `Ok(Err(why))`: it holds no FAT volume; `Err`: it holds a broken one.
fn check_volume(image: &Path, f: &mut File, p: &Partition) -> Result<Result<(), String>, FatError> {
    let mut read = |offset: u64, len: usize| {
        if offset.saturating_add(len as u64) > p.len {
            return Err(io::Error::other(format!("{len} bytes at {offset} lie outside the partition")));
        }
        read_at(f, p.start + offset, len)
    };
    let geometry = match read(0, 512)
        .map_err(|e| format!("reading its boot sector: {e}"))
        .and_then(|boot| bpb::check(&boot, p.len))
    {
        Ok(g) => g,
        Err(why) => return Ok(Err(format!("partition {}: {why}", p.index))),
    };
    clusters::check(&geometry, &mut read).map_err(|why| FatError::Invalid {
        file: image.to_path_buf(),
        what: format!("the FAT volume in partition {}: {why}", p.index),
    })?;
    Ok(Ok(()))
}

impl FatFs {
    /// Opens the FAT partition of `image` for writing. With several, the first whose root holds
    /// `os/` or `boot/` (the SmartOS layout) wins, else the first FAT one. Each partition is
    /// checked before `fatfs` reads it: one whose boot sector is not a sound FAT BPB is passed
    /// over (the [`FatError::NoFat`] says why), one whose FAT or directories are broken (a chain
    /// that loops, a cluster outside the volume) is [`FatError::Invalid`].
    pub fn open(image: &Path) -> Result<FatFs, FatError> {
        let io_err = |what: &str, err| FatError::Io { file: image.to_path_buf(), what: what.into(), err };
        let open = || File::options().read(true).write(true).open(image).map_err(|e| io_err("opening", e));
        let (list, mut found) = partitions(image, &mut open()?)?;
        let mut fallback = None;
        let mut passed_over = Vec::new();
        for p in list.iter().filter(|p| p.fat_type).chain(list.iter().filter(|p| !p.fat_type)) {
            let mut f = open()?;
            if let Err(why) = check_volume(image, &mut f, p)? {
                passed_over.push(why);
                continue;
            }
            let Ok(slice) = Slice::new(f, p.start, p.len) else {
                continue;
            };
            let fs = match fatfs::FileSystem::new(slice, fatfs::FsOptions::new()) {
                Ok(fs) => fs,
                Err(e) => {
                    passed_over.push(format!("partition {}: {e}", p.index));
                    continue;
                }
            };
            let smartos = ["os", "boot"].iter().any(|d| fs.root_dir().open_dir(d).is_ok());
            let fat = FatFs { file: image.to_path_buf(), fs, partition: *p };
            if smartos {
                return Ok(fat);
            }
            fallback.get_or_insert(fat);
        }
        if !passed_over.is_empty() {
            found = format!("{found}; {}", passed_over.join("; "));
        }
        fallback.ok_or_else(|| FatError::NoFat { file: image.to_path_buf(), found })
    }

    fn err(&self, what: String, err: io::Error) -> FatError {
        FatError::Io { file: self.file.clone(), what, err }
    }

    /// Reads a file of at most [`MAX_READ`] bytes; [`FatError::Missing`] when it is not there.
    pub fn read(&self, inner: &str) -> Result<Vec<u8>, FatError> {
        let inner = inner.trim_start_matches('/');
        let f = self.fs.root_dir().open_file(inner).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FatError::Missing { file: self.file.clone(), inner: format!("/{inner}") },
            _ => self.err(format!("opening /{inner}"), e),
        })?;
        let mut out = Vec::new();
        f.take(MAX_READ + 1).read_to_end(&mut out).map_err(|e| self.err(format!("reading /{inner}"), e))?;
        if out.len() as u64 > MAX_READ {
            let e = io::Error::other("larger than the 16 MiB the rig reads (it reads loader.conf and answers.json)");
            return Err(self.err(format!("reading /{inner}"), e));
        }
        Ok(out)
    }

    /// Whether a file or directory exists.
    pub fn exists(&self, inner: &str) -> bool {
        let inner = inner.trim_start_matches('/');
        let root = self.fs.root_dir();
        root.open_file(inner).is_ok() || root.open_dir(inner).is_ok()
    }

    /// The names in a directory (without `.` and `..`).
    pub fn list(&self, dir: &str) -> Result<Vec<String>, FatError> {
        let dir = dir.trim_matches('/');
        let d = if dir.is_empty() {
            self.fs.root_dir()
        } else {
            self.fs
                .root_dir()
                .open_dir(dir)
                .map_err(|_| FatError::Missing { file: self.file.clone(), inner: format!("/{dir}/") })?
        };
        let mut out = Vec::new();
        for e in d.iter() {
            let name = e.map_err(|e| self.err(format!("listing /{dir}"), e))?.file_name();
            if name != "." && name != ".." {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Writes a file from a reader, creating its directories and replacing an existing file.
    pub fn write_from(&self, inner: &str, data: &mut dyn Read) -> Result<u64, FatError> {
        let inner = inner.trim_start_matches('/');
        let root = self.fs.root_dir();
        if let Some((dirs, _)) = inner.rsplit_once('/') {
            let mut path = String::new();
            for part in dirs.split('/').filter(|p| !p.is_empty()) {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(part);
                root.create_dir(&path).map_err(|e| self.err(format!("creating /{path}"), e))?;
            }
        }
        let mut f = root.create_file(inner).map_err(|e| self.err(format!("creating /{inner}"), e))?;
        f.truncate().map_err(|e| self.err(format!("truncating /{inner}"), e))?;
        let n = io::copy(data, &mut f).map_err(|e| self.err(format!("writing /{inner}"), e))?;
        f.flush().map_err(|e| self.err(format!("writing /{inner}"), e))?;
        Ok(n)
    }

    /// Writes a file from bytes.
    pub fn write(&self, inner: &str, data: &[u8]) -> Result<(), FatError> {
        self.write_from(inner, &mut &data[..]).map(|_| ())
    }

    /// Removes a file (for fixtures that turn one key layout into another).
    pub fn remove(&self, inner: &str) -> Result<(), FatError> {
        let inner = inner.trim_start_matches('/');
        self.fs.root_dir().remove(inner).map_err(|e| self.err(format!("removing /{inner}"), e))
    }

    /// Flushes and closes the file system.
    pub fn close(self) -> Result<(), FatError> {
        let file = self.file.clone();
        self.fs.unmount().map_err(|err| FatError::Io { file, what: "flushing the FAT".into(), err })
    }
}

/// Creates a sparse raw disk image of `size_mib` MiB with an MBR and one FAT32-LBA partition
/// (type 0x0c) from sector 2048 to the end, formatted empty. For tests and fixtures: what a
/// SmartOS USB image looks like to the rig, without the OS on it.
pub fn create_image(path: &Path, size_mib: u64) -> io::Result<()> {
    let mut f = File::options().read(true).write(true).create_new(true).open(path)?;
    let total = size_mib * 1024 * 1024;
    f.set_len(total)?;
    let sectors = (total / 512 - 2048) as u32;
    let mut s0 = vec![0u8; 512];
    parts::write_mbr(&mut s0, 0x0c, 2048, sectors);
    f.write_all(&s0)?;
    let slice = Slice::new(f, 2048 * 512, sectors as u64 * 512)?;
    fatfs::format_volume(slice, fatfs::FormatVolumeOptions::new().volume_label(*b"SMARTOSTEST"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a [`Slice`] stop with an error past four times the partition plus 64 MiB,
    /// however the reader seeks.
    #[test]
    fn a_slice_bounds_what_is_read_through_it() {
        let path = std::env::temp_dir().join(format!("rig-coal-slice-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        let mut s = Slice::new(File::open(&path).unwrap(), 4096, 512 * 1024).unwrap();
        let mut buf = vec![0u8; 512 * 1024];
        let mut read = 0u64;
        let e = loop {
            match s.seek(SeekFrom::Start(0)).and_then(|_| s.read_exact(&mut buf)) {
                Ok(()) => read += buf.len() as u64,
                Err(e) => break e,
            }
        };
        assert_eq!(read, 4 * 512 * 1024 + (64 << 20));
        assert!(e.to_string().contains("read more than four times the partition (plus 64 MiB)"), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
