//! A Debian package read in-process, with no `dpkg-deb` or `tar` to spawn: its `ar` members,
//! its control fields and its data archive (`data.tar`, plain or compressed with xz, gzip or
//! zstd: Debian 12 uses xz, Ubuntu zstd). A package cut short or compressed another way is an
//! error naming the package.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

/// The package's name for errors: its file name (known even when its contents are not).
fn label(deb: &Path) -> String {
    deb.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| deb.display().to_string())
}

/// Counts what the inner reader gives, to tell a member cut short from a whole one.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Opens the tar archive of the `ar` member whose name starts with `prefix` (`control.tar`,
/// `data.tar`) and hands it to `f`. Unless `f` stops early (returns `Ok(false)`), the archive
/// is then decompressed to its end, and the member is always read to its end, so a truncated
/// or corrupt package fails here and not later in the guest.
fn with_tar(
    deb: &Path,
    prefix: &str,
    f: &mut dyn FnMut(&mut tar::Archive<&mut dyn Read>) -> Result<bool>,
) -> Result<()> {
    let name = label(deb);
    let file = std::fs::File::open(deb).with_context(|| format!("opening {}", deb.display()))?;
    let mut ar = ar::Archive::new(std::io::BufReader::new(file));
    while let Some(entry) = ar.next_entry() {
        let entry =
            entry.with_context(|| format!("{name} is not a Debian package (a truncated or other ar archive)"))?;
        let member = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        if !member.starts_with(prefix) {
            continue;
        }
        let size = entry.header().size();
        let mut raw = Counted { inner: entry, bytes: 0 };
        let compression = &member[prefix.len()..];
        let mut reader: Box<dyn Read + '_> = match compression {
            "" => Box::new(&mut raw),
            ".xz" => Box::new(liblzma::read::XzDecoder::new(&mut raw)),
            ".gz" => Box::new(flate2::read::GzDecoder::new(&mut raw)),
            ".zst" => Box::new(
                ruzstd::decoding::StreamingDecoder::new(&mut raw)
                    .map_err(|e| anyhow::anyhow!("{name}: {member} is not zstd data: {e}"))?,
            ),
            other => bail!(
                "{name}: its {member} is compressed as {other:?}; the rig reads {prefix} plain or as .xz, .gz or .zst"
            ),
        };
        let mut archive = tar::Archive::new(&mut reader as &mut dyn Read);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        // As tar (under dpkg-deb -x): owners kept when root, the caller's otherwise.
        // SAFETY: geteuid has no preconditions and cannot fail.
        archive.set_preserve_ownerships(unsafe { libc::geteuid() } == 0);
        archive.set_overwrite(true);
        let result = f(&mut archive);
        let result = result.and_then(|read_all| {
            if read_all {
                std::io::copy(&mut reader, &mut std::io::sink()).context("corrupt compressed data")?;
            }
            Ok(())
        });
        drop(reader);
        // Whatever went wrong, a member shorter than its header says is the first thing to tell.
        let _ = std::io::copy(&mut raw, &mut std::io::sink());
        ensure!(raw.bytes == size, "{name} is truncated: its {member} has {} of {size} bytes", raw.bytes);
        result.with_context(|| format!("reading {member} of {name}"))?;
        return Ok(());
    }
    bail!("{name} is not a Debian package: it has no {prefix} member")
}

/// The package's `control` file (Package, Version, Architecture, Depends, ...).
pub fn control(deb: &Path) -> Result<String> {
    let bytes = member_in(deb, "control.tar", "./control", None)?;
    String::from_utf8(bytes).with_context(|| format!("{}: its control file is not UTF-8", label(deb)))
}

/// One field of a control file.
pub fn field(control: &str, name: &str) -> Option<String> {
    control.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// The paths in the package's data archive, as the archive spells them (`./boot/...`).
pub fn list(deb: &Path) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    with_tar(deb, "data.tar", &mut |archive| {
        for entry in archive.entries()? {
            paths.push(String::from_utf8_lossy(&entry?.path_bytes()).into_owned());
        }
        Ok(true)
    })?;
    Ok(paths)
}

/// One file of the data archive (its path as the archive spells it, `./boot/...`), into `to`
/// when given (a large one, streamed) or else returned.
pub fn extract_member(deb: &Path, member: &str, to: Option<std::fs::File>) -> Result<Vec<u8>> {
    member_in(deb, "data.tar", member, to)
}

/// `member` of the `tar_prefix` archive, into `to` when given or else returned.
fn member_in(deb: &Path, tar_prefix: &str, member: &str, mut to: Option<std::fs::File>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    find(deb, tar_prefix, member, &mut |entry| match to.as_mut() {
        Some(file) => std::io::copy(entry, file).map(|_| ()),
        None => entry.read_to_end(&mut out).map(|_| ()),
    })?;
    Ok(out)
}

/// Hands `member` of the `tar_prefix` archive to `take`; an error when it is not there.
fn find(
    deb: &Path,
    tar_prefix: &str,
    member: &str,
    take: &mut dyn FnMut(&mut dyn Read) -> std::io::Result<()>,
) -> Result<()> {
    let mut found = false;
    with_tar(deb, tar_prefix, &mut |archive| {
        for entry in archive.entries()? {
            let mut entry = entry?;
            if *entry.path_bytes() == *member.as_bytes() {
                take(&mut entry)?;
                found = true;
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    ensure!(found, "{} has no {member} in its {tar_prefix}", label(deb));
    Ok(())
}

/// Unpacks the data archive's entries that `wanted` accepts (given the path as the archive
/// spells it) into `dir`, as `dpkg-deb -x` would: modes and times kept, later files replacing
/// earlier ones. Returns how many entries were unpacked.
pub fn unpack(deb: &Path, dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut count = 0;
    let mut dirs = Vec::new();
    with_tar(deb, "data.tar", &mut |archive| {
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if !wanted(&path) {
                continue;
            }
            // Directories last (their times and modes), as tar's own unpack does.
            if entry.header().entry_type().is_dir() {
                dirs.push((path.clone(), entry.header().mode()?, entry.header().mtime()?));
            }
            entry.unpack_in(dir).with_context(|| format!("unpacking {path}"))?;
            count += 1;
        }
        Ok(true)
    })?;
    for (path, mode, mtime) in dirs.into_iter().rev() {
        let target = dir.join(path.trim_start_matches("./"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o7777))?;
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        std::fs::File::open(&target)?.set_modified(time)?;
    }
    Ok(count)
}
