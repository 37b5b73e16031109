//! The initramfs: a gzip'd newc ("070701") cpio archive, written and read without `cpio`.
//!
//! Every entry is owned by root (uid/gid 0) with mtime 0; modes come from the tree on disk.
//! Device nodes the kernel needs before init runs (`/dev/console`) are added as extra entries,
//! so the build needs no root privileges.

use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const TRAILER: &str = "TRAILER!!!";

/// A character device node to add to the archive.
#[derive(Debug, Clone, Copy)]
pub struct CharDev {
    pub path: &'static str,
    pub mode: u32,
    pub major: u32,
    pub minor: u32,
}

/// The nodes every initramfs gets: the kernel opens /dev/console for init's stdio.
pub const DEV_NODES: &[CharDev] = &[CharDev { path: "dev/console", mode: 0o600, major: 5, minor: 1 }];

/// Writes `root` (sorted, recursively) plus `nodes` as a gzip'd newc archive to `out`.
pub fn write_gz(root: &Path, nodes: &[CharDev], out: &Path) -> Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = Writer { out: GzEncoder::new(io::BufWriter::new(file), Compression::default()), ino: 0 };
    w.tree(root, Path::new("")).with_context(|| format!("archiving {}", root.display()))?;
    for n in nodes {
        w.entry(n.path, S_IFCHR | n.mode, (n.major, n.minor), &[])?;
    }
    w.entry(TRAILER, 0, (0, 0), &[])?;
    w.out.finish()?.flush()?;
    Ok(())
}

struct Writer<W: Write> {
    out: W,
    ino: u32,
}

impl<W: Write> Writer<W> {
    fn tree(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = rel.join(e.file_name());
            let name_str = name.to_str().context("non-UTF-8 file name")?;
            let meta = std::fs::symlink_metadata(&path)?;
            let perm = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_dir() {
                self.entry(name_str, S_IFDIR | perm, (0, 0), &[])?;
                self.tree(&path, &name)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path)?;
                let target = target.to_str().context("non-UTF-8 symlink")?;
                self.entry(name_str, S_IFLNK | 0o777, (0, 0), target.as_bytes())?;
            } else if ft.is_file() {
                let data = std::fs::read(&path)?;
                self.entry(name_str, S_IFREG | perm, (0, 0), &data)?;
            } else {
                bail!("{}: unsupported file type (mode {:o})", path.display(), meta.mode());
            }
        }
        Ok(())
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        self.ino += 1;
        let nlink = if mode & 0o170000 == S_IFDIR { 2 } else { 1 };
        let fields =
            [self.ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        let mut hdr = String::from("070701");
        for f in fields {
            hdr.push_str(&format!("{f:08x}"));
        }
        self.out.write_all(hdr.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.pad(110 + name.len() + 1)?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    fn pad(&mut self, len: usize) -> io::Result<()> {
        self.out.write_all(&[0; 3][..(4 - len % 4) % 4])
    }
}

/// One entry read back from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub size: u32,
}

/// Lists the entries of a gzip'd newc archive (for tests and checks).
pub fn list_gz(path: &Path) -> Result<Vec<Entry>> {
    let mut bytes = Vec::new();
    GzDecoder::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?)
        .read_to_end(&mut bytes)
        .with_context(|| format!("decompressing {}", path.display()))?;
    list(&bytes)
}

/// Lists the entries of an uncompressed newc archive, up to the trailer.
pub fn list(bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let align = |n: usize| n.div_ceil(4) * 4;
    loop {
        let hdr = bytes.get(pos..pos + 110).context("truncated cpio header")?;
        if &hdr[..6] != b"070701" {
            bail!("bad cpio magic at offset {pos}");
        }
        let field = |i: usize| -> Result<u32> {
            let s = std::str::from_utf8(&hdr[6 + 8 * i..14 + 8 * i])?;
            Ok(u32::from_str_radix(s, 16)?)
        };
        let (mode, size, namesize) = (field(1)?, field(6)?, field(11)? as usize);
        let name_bytes = bytes.get(pos + 110..pos + 110 + namesize - 1).context("truncated name")?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        pos = align(pos + 110 + namesize);
        pos = align(pos + size as usize);
        if name == TRAILER {
            return Ok(out);
        }
        out.push(Entry { name, mode, size });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("rig-cpio-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/bin")).unwrap();
        std::fs::write(dir.join("root/init"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.join("root/bin/busybox"), vec![7u8; 1001]).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", dir.join("root/bin/sh")).unwrap();
        let out = dir.join("initrd.cpio.gz");
        write_gz(&dir.join("root"), DEV_NODES, &out).unwrap();
        let e = list_gz(&out).unwrap();
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["bin", "bin/busybox", "bin/sh", "init", "dev/console"]);
        assert_eq!(e[1].size, 1001);
        assert_eq!(e[2].mode & 0o170000, S_IFLNK);
        assert_eq!(e[4].mode, S_IFCHR | 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
