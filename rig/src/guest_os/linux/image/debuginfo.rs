//! The guest kernel's debug vmlinux, for `crash`. Debian ships it in
//! `linux-image-<release>-dbg` (858 MB to download, 5.6 GB installed): fetching it is an
//! explicit user option, never a default, and only the vmlinux (~633 MB) is extracted.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Where the debug vmlinux of `kernel_release` lives once fetched:
/// `<build>/debug/vmlinux-<release>`.
pub fn debug_vmlinux_path(build_dir: &Path, kernel_release: &str) -> PathBuf {
    build_dir.join("debug").join(format!("vmlinux-{kernel_release}"))
}

/// The Debian package that holds the debug vmlinux of `kernel_release` (`6.1.0-56-amd64`).
pub fn debug_package(kernel_release: &str) -> String {
    format!("linux-image-{kernel_release}-dbg")
}

/// Downloads `linux-image-<release>-dbg` into `<build>/debs` with `apt-get download` and
/// extracts only `/usr/lib/debug/boot/vmlinux-<release>` to [`debug_vmlinux_path`]. A
/// large, slow download: call it only when the user asked for symbols. Returns at once
/// if the vmlinux is already there.
pub fn fetch_debug_vmlinux(build_dir: &Path, kernel_release: &str) -> Result<PathBuf> {
    let out = debug_vmlinux_path(build_dir, kernel_release);
    if out.is_file() {
        return Ok(out);
    }
    let debs = build_dir.join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    let package = debug_package(kernel_release);
    let deb = match find_deb(&debs, &package)? {
        Some(d) => d,
        None => {
            tracing::info!(%package, "downloading the debug kernel package (about 858 MB)");
            let mut cmd = Command::new("apt-get");
            cmd.current_dir(&debs).args(["download", "-q"]);
            if unsafe { libc::geteuid() } == 0 {
                // As root apt drops to the _apt user, who cannot write to our cache.
                cmd.args(["-o", "APT::Sandbox::User=root"]);
            }
            let o = cmd.arg(&package).output().context("running apt-get download")?;
            if !o.status.success() {
                bail!("apt-get download {package} failed: {}", String::from_utf8_lossy(&o.stderr).trim());
            }
            find_deb(&debs, &package)?
                .with_context(|| format!("apt-get download {package} left no .deb in {}", debs.display()))?
        }
    };
    extract_vmlinux(&deb, kernel_release, &out)?;
    Ok(out)
}

fn find_deb(debs: &Path, package: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    for e in std::fs::read_dir(debs).with_context(|| format!("reading {}", debs.display()))? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The package's debug vmlinux into `out`, through a temporary file.
fn extract_vmlinux(deb: &Path, kernel_release: &str, out: &Path) -> Result<()> {
    let member = format!("./usr/lib/debug/boot/vmlinux-{kernel_release}");
    std::fs::create_dir_all(out.parent().expect("has a parent"))?;
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    if let Err(e) = super::deb::extract_member(deb, &member, Some(file)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_debian() {
        assert_eq!(debug_package("6.1.0-56-amd64"), "linux-image-6.1.0-56-amd64-dbg");
        assert_eq!(
            debug_vmlinux_path(Path::new("/b"), "6.1.0-56-amd64"),
            PathBuf::from("/b/debug/vmlinux-6.1.0-56-amd64")
        );
    }
}
