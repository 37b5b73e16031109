//! The user's inputs, read without ever being written: a coal tarball or a raw USB image
//! (copied sparsely into the rig's working copy) and a SmartOS platform tarball (streamed
//! into the working copy's `/os/<PI>/platform/`).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path};

use anyhow::{Context, Result, anyhow, bail};

use super::fat::FatFs;

/// What `--from` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A gzip'd tar (`coal-latest.tgz`).
    TarGz,
    /// A plain tar.
    Tar,
    /// A raw disk image (MBR boot signature).
    RawImage,
    /// A `.vmwarevm` directory (`bin/build-coal-image` without `build-tgz`) holding the image.
    Directory,
}

/// Tells the input's kind from its first bytes.
pub fn classify(path: &Path) -> Result<SourceKind> {
    if path.is_dir() {
        return Ok(SourceKind::Directory);
    }
    let mut head = vec![0u8; 512];
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = read_full(&mut f, &mut head)?;
    head.truncate(n);
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(SourceKind::TarGz)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Ok(SourceKind::Tar)
    } else if head.len() == 512 && head[510..512] == [0x55, 0xaa] {
        Ok(SourceKind::RawImage)
    } else {
        bail!(
            "{}: neither a coal tarball (coal-<stamp>-4gb.tgz or -8gb.tgz, holding a 4gb.img or 8gb.img USB image) nor a raw SmartOS USB image \
             (no MBR boot signature in its first sector)",
            path.display()
        )
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Copies a stream into a new file, leaving holes where whole 64 KiB blocks are zero.
pub fn sparse_copy(from: &mut dyn Read, to: &Path) -> Result<u64> {
    let mut out =
        File::options().write(true).create_new(true).open(to).with_context(|| format!("creating {}", to.display()))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = read_full(from, &mut buf).context("reading the USB image")?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|b| *b == 0) {
            out.seek(SeekFrom::Current(n as i64))?;
        } else {
            out.write_all(&buf[..n]).with_context(|| format!("writing {}", to.display()))?;
        }
        total += n as u64;
    }
    out.set_len(total)?;
    out.sync_all()?;
    Ok(total)
}

fn tar_reader(path: &Path, kind: SourceKind) -> Result<tar::Archive<Box<dyn Read>>> {
    let f = BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let r: Box<dyn Read> = match kind {
        SourceKind::TarGz => Box::new(flate2::read::GzDecoder::new(f)),
        _ => Box::new(f),
    };
    Ok(tar::Archive::new(r))
}

/// Whether a tarball entry or file is coal's USB image: `4gb.img` (sdc-headnode
/// `bin/build-coal-image` until 8b1795b6, 2022) or `8gb.img` (since), bare or with a prefix, or
/// an `*usb*.img`.
pub fn is_usb_image(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    base.ends_with("4gb.img") || base.ends_with("8gb.img") || (base.ends_with(".img") && base.contains("usb"))
}

/// The USB image in a `.vmwarevm` directory (or the one directory inside the given one):
/// returns its path and its name relative to `dir`.
pub fn find_in_directory(dir: &Path) -> Result<(std::path::PathBuf, String)> {
    let mut seen = Vec::new();
    for top in [dir.to_path_buf()].into_iter().chain(subdirs(dir)?) {
        for e in std::fs::read_dir(&top).with_context(|| format!("reading {}", top.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type()?.is_file() && is_usb_image(&name) {
                let rel = e.path().strip_prefix(dir).map_or(name.clone(), |p| p.display().to_string());
                return Ok((e.path(), rel));
            }
            if seen.len() < 8 {
                seen.push(name);
            }
        }
    }
    bail!(
        "{}: no USB image in this directory (expected 4gb.img or 8gb.img, as in coal's .vmwarevm), found {}",
        dir.display(),
        if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") }
    )
}

fn subdirs(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Extracts coal's USB image (the first `4gb.img`, `8gb.img` or `*usb*.img` entry) from the tarball into
/// `to`, sparsely. Returns the entry's name.
pub fn extract_usb_image(tarball: &Path, kind: SourceKind, to: &Path) -> Result<String> {
    let mut archive = tar_reader(tarball, kind)?;
    let mut seen = Vec::new();
    let entries = archive.entries().with_context(|| format!("{}: reading the tarball", tarball.display()))?;
    for e in entries {
        let mut e = e.with_context(|| format!("{}: reading the tarball", tarball.display()))?;
        let name = e.path()?.to_string_lossy().into_owned();
        if e.header().entry_type().is_file() && is_usb_image(&name) {
            sparse_copy(&mut e, to).with_context(|| format!("{}: extracting {name}", tarball.display()))?;
            return Ok(name);
        }
        if seen.len() < 8 {
            seen.push(name);
        }
    }
    let held = if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") };
    Err(anyhow!(
        "{}: not a coal tarball: expected a USB image named 4gb.img or 8gb.img (coal's .vmwarevm bundle holds one), \
         found {held}",
        tarball.display()
    ))
}

/// Whether `s` is a platform image stamp (`20181206T011455Z`).
pub fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16 && b[8] == b'T' && b[15] == b'Z' && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// Files a platform must have, relative to its `platform-<PI>/` directory.
pub const PLATFORM_REQUIRED: &[&str] = &["i86pc/kernel/amd64/unix", "i86pc/amd64/boot_archive"];

fn platform_layout_error(tarball: &Path, why: &str) -> anyhow::Error {
    anyhow!(
        "{}: not a SmartOS platform tarball ({why}); expected platform-<PI>/i86pc/kernel/amd64/unix and \
         platform-<PI>/i86pc/amd64/boot_archive, with <PI> a stamp like 20181206T011455Z",
        tarball.display()
    )
}

/// Streams a platform tarball (`platform-<PI>/...`) into `/os/<PI>/platform/...` of the image.
/// Returns the stamp. The image must already have the `/os/` layout.
pub fn unpack_platform(tarball: &Path, fat: &FatFs) -> Result<String> {
    let kind = match classify(tarball) {
        Ok(k @ (SourceKind::TarGz | SourceKind::Tar)) => k,
        _ => return Err(platform_layout_error(tarball, "not a tar or gzip'd tar")),
    };
    let mut archive = tar_reader(tarball, kind)?;
    let mut stamp: Option<String> = None;
    let mut found = Vec::new();
    for e in archive.entries().with_context(|| format!("{}: reading the tarball", tarball.display()))? {
        let mut e = e.with_context(|| format!("{}: reading the tarball", tarball.display()))?;
        let name = e.path()?.to_string_lossy().trim_start_matches("./").to_string();
        let Some((top, rest)) = name.split_once('/') else {
            if name.is_empty() || e.header().entry_type().is_dir() && top_stamp(&name).is_some() {
                continue;
            }
            return Err(platform_layout_error(tarball, &format!("entry {name} is not under platform-<PI>/")));
        };
        let Some(pi) = top_stamp(top) else {
            return Err(platform_layout_error(tarball, &format!("entry {name} is not under platform-<PI>/")));
        };
        match &stamp {
            None => stamp = Some(pi.to_string()),
            Some(s) if s != pi => {
                return Err(platform_layout_error(tarball, &format!("two platforms, {s} and {pi}")));
            }
            Some(_) => {}
        }
        // `..` would write outside the platform's directory (over loader.conf, say).
        if Path::new(rest).components().any(|c| matches!(c, Component::ParentDir | Component::RootDir)) {
            return Err(platform_layout_error(tarball, &format!("entry {name} leaves platform-{pi}/")));
        }
        if !e.header().entry_type().is_file() || rest.is_empty() {
            continue;
        }
        fat.write_from(&format!("os/{pi}/platform/{rest}"), &mut e)
            .with_context(|| format!("{}: copying {name} into the image", tarball.display()))?;
        found.push(rest.to_string());
    }
    let stamp = stamp.ok_or_else(|| platform_layout_error(tarball, "it is empty"))?;
    if let Some(missing) = PLATFORM_REQUIRED.iter().find(|r| !found.iter().any(|f| f == *r)) {
        return Err(platform_layout_error(tarball, &format!("platform-{stamp}/{missing} is missing")));
    }
    Ok(stamp)
}

fn top_stamp(top: &str) -> Option<&str> {
    top.trim_end_matches('/').strip_prefix("platform-").filter(|s| is_stamp(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_names() {
        assert!(is_stamp("20181206T011455Z"));
        assert!(!is_stamp("20181206T011455"));
        assert!(!is_stamp("2018120xT011455Z"));
        assert!(is_usb_image("coal-master-20181206T011455Z-g1a2b3c4-8gb.vmwarevm/usb-8gb.img"));
        assert!(is_usb_image("USB-headnode.img"));
        assert!(is_usb_image("coal-master-20181129T002502Z-g1a2b3c4-4gb.vmwarevm/4gb.img"));
        assert!(is_usb_image("8gb.img"));
        assert!(!is_usb_image("coal/2gb.img"));
        assert!(!is_usb_image("coal/zpool.vmdk"));
        assert_eq!(top_stamp("platform-20181206T011455Z"), Some("20181206T011455Z"));
        assert_eq!(top_stamp("platform-latest"), None);
    }
}
