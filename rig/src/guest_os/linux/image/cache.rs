//! The image cache: one directory per (recipe, package versions), published atomically.
//!
//! `build/images/<name>-<key>/` is complete by construction: a build fills a temporary
//! sibling directory and renames it into place as its last step, under a lock file, so a
//! killed build leaves only a `.tmp-*` directory that the next build removes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::packages::{Package, hex, sha256_read};
use super::recipe::Recipe;

/// File names inside an image directory.
pub const KERNEL: &str = "vmlinux";
pub const INITRD: &str = "initrd.cpio.gz";
pub const CLIENT_KEY: &str = "client_key";
pub const HOST_KEY: &str = "host_key.pub";
pub const MANIFEST: &str = "manifest.json";

/// What a built image holds, written to `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub key: String,
    pub kernel_release: String,
    pub cmdline: String,
    pub packages: Vec<Package>,
    /// Recipe file name → SHA256 of its contents.
    pub recipe_files: std::collections::BTreeMap<String, String>,
    pub built_at_unix: u64,
    pub build_seconds: f64,
    /// The image directory whose artifacts this one links (`linux-os7410-debug-<key>`), for an
    /// image built from another ([`Recipe::built_from`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_from: Option<String>,
    /// Listed modules a user's kernel builds in or lacks (`kvm-intel absent`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub module_notes: Vec<String>,
    /// The boot artifacts as built (kernel and initrd): size and SHA256, checked before every
    /// use, so a truncated or damaged cached image is rebuilt instead of booted. Images
    /// built before this was recorded have none and are rebuilt once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub artifacts: std::collections::BTreeMap<String, Artifact>,
}

/// One boot artifact as built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA256 of its contents, hex.
    pub sha256: String,
}

/// The artifacts whose size and hash an image records.
const SEALED: [&str; 2] = [KERNEL, INITRD];

fn artifact(path: &Path) -> Result<Artifact> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (bytes, sha256) = sha256_read(f).with_context(|| format!("reading {}", path.display()))?;
    Ok(Artifact { bytes, sha256 })
}

/// Records the size and hash of a finished build's artifacts in its manifest (in `dir`,
/// before it is published).
pub fn seal(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut m: Manifest = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    for f in SEALED {
        m.artifacts.insert(f.to_string(), artifact(&dir.join(f))?);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&m)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(m)
}

/// Why a published image cannot be used as it is (None: it can).
pub fn damage(dir: &Path, m: &Manifest) -> Option<String> {
    if m.artifacts.is_empty() {
        return Some("its manifest records no artifact sizes and hashes (built by an older rig)".into());
    }
    for (name, want) in &m.artifacts {
        let path = dir.join(name);
        let bytes = match std::fs::metadata(&path) {
            Ok(md) => md.len(),
            Err(e) => return Some(format!("{name}: {e}")),
        };
        if bytes != want.bytes {
            return Some(format!("{name} is {bytes} bytes, built as {}", want.bytes));
        }
        match artifact(&path) {
            Ok(a) if a.sha256 == want.sha256 => {}
            Ok(a) => return Some(format!("{name}'s SHA256 is {}, built as {}", &a.sha256[..16], &want.sha256[..16])),
            Err(e) => return Some(format!("{e:#}")),
        }
    }
    None
}

/// The cache key: a hash of the recipe (name, command line, files) and the exact packages.
pub fn cache_key(recipe: &Recipe, packages: &[Package]) -> String {
    let mut h = Sha256::new();
    h.update(format!("name={}\ncmdline={}\n", recipe.name, recipe.cmdline()));
    for p in packages {
        let role = if p.build_only { " build-only" } else { "" };
        h.update(format!("pkg={} {} {} {}{role}\n", p.name, p.version, p.architecture, p.sha256));
    }
    for hook in recipe.hooks {
        h.update(format!("hook={} {}\n", hook.script, hook.args.join(" ")));
    }
    for f in recipe.files() {
        h.update(format!("file={} {}\n", f.name, f.contents.len()));
        h.update(f.contents);
    }
    hex(&h.finalize())[..16].to_string()
}

/// The cache key of an image built from another: its name and command line, and the key of
/// the build it links, so a rebuilt base gives it a new key too.
pub fn derived_key(recipe: &Recipe, base_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("name={}\ncmdline={}\n", recipe.name, recipe.cmdline()));
    h.update(format!("built_from={} {base_key}\n", recipe.built_from.unwrap_or_default()));
    hex(&h.finalize())[..16].to_string()
}

/// SHA256 of each recipe file, for the manifest.
pub fn recipe_hashes(recipe: &Recipe) -> std::collections::BTreeMap<String, String> {
    recipe.files().map(|f| (f.name.to_string(), hex(&Sha256::digest(f.contents.as_bytes())))).collect()
}

/// Reads the manifest of a published image directory, if it is complete (every file there;
/// sizes and hashes are [`damage`]'s to check).
pub fn load_complete(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let m: Manifest = serde_json::from_str(&text).ok()?;
    let all_there = [KERNEL, INITRD, CLIENT_KEY, HOST_KEY].iter().all(|f| dir.join(f).is_file());
    all_there.then_some(m)
}

/// [`load_complete`], and its artifacts as built: a damaged image is reported (why) and
/// treated as absent.
pub fn load_sound(dir: &Path) -> Option<Manifest> {
    let m = load_complete(dir)?;
    match damage(dir, &m) {
        None => Some(m),
        Some(why) => {
            tracing::warn!(dir = %dir.display(), why = %why, "a cached image does not match its build: rebuilding it");
            None
        }
    }
}

/// Removes leftovers of killed builds of this image (`.tmp-<name>-<key>-*`). Call under the lock.
pub fn remove_stale_tmp(images_dir: &Path, dir_name: &str) -> Result<()> {
    let prefix = format!(".tmp-{dir_name}-");
    for e in std::fs::read_dir(images_dir)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            tracing::info!(path = %e.path().display(), "removing an unfinished image build");
            std::fs::remove_dir_all(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// The temporary directory a build fills before it is renamed to `dir_name`.
pub fn tmp_dir(images_dir: &Path, dir_name: &str) -> PathBuf {
    images_dir.join(format!(".tmp-{dir_name}-{}", std::process::id()))
}

/// An exclusive `flock` on a file, released on drop.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Blocks until the lock is ours.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("locking {}", path.display()));
        }
        Ok(Lock { _file: f })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A published-looking image directory with a manifest and its four files.
    fn image_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rig-cache-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let m = r#"{"name":"linux","key":"k","kernel_release":"6.1.0-42-amd64","cmdline":"console=ttyS0",
            "packages":[],"recipe_files":{},"built_at_unix":1,"build_seconds":1.0}"#;
        std::fs::write(dir.join(MANIFEST), m).unwrap();
        std::fs::write(dir.join(KERNEL), vec![7u8; 4096]).unwrap();
        std::fs::write(dir.join(INITRD), vec![9u8; 8192]).unwrap();
        std::fs::write(dir.join(CLIENT_KEY), "k").unwrap();
        std::fs::write(dir.join(HOST_KEY), "k").unwrap();
        dir
    }

    #[test]
    fn a_damaged_image_is_told_and_not_loaded() {
        let dir = image_dir("damage");
        // Built before sizes and hashes were kept: used no more, rebuilt once.
        assert!(damage(&dir, &load_complete(&dir).unwrap()).unwrap().contains("records no artifact"));
        assert!(load_sound(&dir).is_none());
        let m = seal(&dir).unwrap();
        assert_eq!(m.artifacts[INITRD].bytes, 8192);
        assert_eq!(damage(&dir, &m), None);
        assert!(load_sound(&dir).is_some(), "the seal is in the manifest on disk");
        // Truncated, as a killed copy or a full disk leaves it.
        std::fs::write(dir.join(INITRD), vec![9u8; 100]).unwrap();
        assert_eq!(damage(&dir, &m).as_deref(), Some("initrd.cpio.gz is 100 bytes, built as 8192"));
        assert!(load_sound(&dir).is_none());
        // The same size, other bytes.
        std::fs::write(dir.join(INITRD), vec![8u8; 8192]).unwrap();
        assert!(damage(&dir, &m).unwrap().starts_with("initrd.cpio.gz's SHA256 is "), "{:?}", damage(&dir, &m));
        std::fs::remove_file(dir.join(KERNEL)).unwrap();
        assert!(load_sound(&dir).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
