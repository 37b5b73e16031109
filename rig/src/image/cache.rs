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

use super::packages::{Package, hex};
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

/// Reads the manifest of a published image directory, if it is complete.
pub fn load_complete(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let m: Manifest = serde_json::from_str(&text).ok()?;
    let all_there = [KERNEL, INITRD, CLIENT_KEY, HOST_KEY].iter().all(|f| dir.join(f).is_file());
    all_there.then_some(m)
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
