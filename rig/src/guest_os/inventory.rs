//! What the build directory holds, and pruning what no command would use again: Linux images
//! built from packages apt no longer offers or recipes that changed, images of user kernels
//! no longer registered, unfinished builds whose builder is gone, and copies of user kernel
//! packages (and their vmlinux) nothing refers to. Prepared coal images are listed, never pruned: they come from
//! the user's files, which may be gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::guest_os::linux::image::cache::{self, Lock};
use crate::guest_os::linux::image::recipe::Recipe;
use crate::guest_os::linux::image::{plan, user_kernel};

/// What an image directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A built-in Linux image (`linux`, `linux-kdump`, ...).
    BuiltIn,
    /// A user kernel's image (`linux-NAME`).
    UserKernel,
    /// A prepared coal headnode.
    Coal,
    /// A build that did not finish (`.tmp-*`).
    Unfinished,
}

impl Kind {
    /// Its name in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BuiltIn => "built-in",
            Kind::UserKernel => "user kernel",
            Kind::Coal => "coal",
            Kind::Unfinished => "unfinished",
        }
    }
}

/// One directory under `<build>/images/` (or a user kernel package copy).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The directory (or file).
    pub path: PathBuf,
    /// The image name (`linux`, `linux-mine`, `coal`); the directory name when unknown.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// The kernel release (Linux) or platform stamp (coal).
    pub detail: String,
    /// The build identity: the cache key (Linux) or the directory's suffix.
    pub key: String,
    /// When it was built or prepared.
    pub built: Option<SystemTime>,
    /// Bytes on disk (apparent sizes).
    pub bytes: u64,
}

impl Entry {
    /// Its age, for listings (`3 h`, `2 d`).
    pub fn age(&self) -> String {
        let Some(secs) = self.built.and_then(|t| t.elapsed().ok()).map(|d| d.as_secs()) else {
            return "?".into();
        };
        match secs {
            s if s < 3600 => format!("{} min", s / 60),
            s if s < 2 * 86400 => format!("{} h", s / 3600),
            s => format!("{} d", s / 86400),
        }
    }
}

/// The apparent size of a file or a directory tree.
fn bytes(path: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(path) else { return 0 };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(path).map(|rd| rd.flatten().map(|e| bytes(&e.path())).sum()).unwrap_or(0)
}

fn entry(path: &Path) -> Option<Entry> {
    let dir_name = path.file_name()?.to_string_lossy().into_owned();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut e = Entry {
        path: path.to_path_buf(),
        name: dir_name.clone(),
        kind: Kind::Unfinished,
        detail: String::new(),
        key: String::new(),
        built: modified,
        bytes: bytes(path),
    };
    if dir_name.starts_with(".tmp-") {
        return Some(e);
    }
    if dir_name.starts_with('.') || !path.is_dir() {
        return None;
    }
    if let Some(m) = cache::load_complete(path) {
        if let Some(why) = cache::damage(path, &m) {
            // Damaged: `image prune` removes it, the next build of its name replaces it.
            e.detail = format!("damaged: {why}");
            return Some(e);
        }
        e.kind = if Recipe::find(&m.name).is_some() { Kind::BuiltIn } else { Kind::UserKernel };
        e.built = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(m.built_at_unix));
        (e.name, e.detail, e.key) = (m.name, m.kernel_release, m.key);
        return Some(e);
    }
    if let Ok(c) = crate::guest_os::illumos::coal::CoalImage::load(path) {
        e.kind = Kind::Coal;
        e.key = dir_name.strip_prefix("coal-").unwrap_or(&dir_name).to_string();
        (e.name, e.detail) = ("coal".into(), c.platform);
        return Some(e);
    }
    Some(e) // an incomplete image: the next build of its name removes it
}

/// Every image directory under `<build>/images/`, newest first.
pub fn list(build_dir: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(build_dir.join("images")) else { return Vec::new() };
    let mut all: Vec<Entry> = rd.flatten().filter_map(|d| entry(&d.path())).collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.built));
    all
}

/// The process id a `.tmp-<name>-<key>-<pid>` build directory was made by.
fn builder_pid(dir_name: &str) -> Option<u32> {
    dir_name.rsplit('-').next()?.parse().ok()
}

/// Whether `e` is an image no command would use again (see the module's doc). `current` gives
/// the key image `name` would be built with now (`None`: the name is no longer known).
fn stale(e: &Entry, current: &mut dyn FnMut(&str) -> Result<Option<String>>) -> Result<bool> {
    Ok(match e.kind {
        Kind::Coal => false,
        Kind::Unfinished => {
            let name = e.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            builder_pid(&name).is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        }
        Kind::BuiltIn | Kind::UserKernel => current(&e.name)?.is_none_or(|key| key != e.key),
    })
}

/// Removes stale images and unreferenced user kernel packages; returns what went. Nothing is
/// removed when the current builds cannot be worked out (apt failing, a broken registration).
pub fn prune(build_dir: &Path) -> Result<Vec<Entry>> {
    let mut keys = std::collections::HashMap::new();
    let mut current = |name: &str| -> Result<Option<String>> {
        if let Some(k) = keys.get(name) {
            return Ok(Option::clone(k));
        }
        let known = Recipe::find(name).is_some() || user_kernel::load(build_dir, name)?.is_some();
        let key = if known {
            Some(plan::plan(build_dir, name).with_context(|| format!("working out image {name}'s current build"))?.key)
        } else {
            None
        };
        keys.insert(name.to_string(), key.clone());
        Ok(key)
    };
    let mut gone = Vec::new();
    for e in list(build_dir) {
        if stale(&e, &mut current)? {
            gone.push(e);
        }
    }
    let dir = build_dir.join(user_kernel::DIR);
    let referenced: Vec<String> = user_kernel::registered(build_dir)
        .iter()
        .filter_map(|n| user_kernel::load(build_dir, n).ok().flatten())
        .map(|k| k.package.sha256)
        .collect();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for f in rd.flatten().map(|f| f.path()) {
            let copy = f.extension().is_some_and(|x| x == "deb" || x == "vmlinux");
            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if copy && !stem.starts_with('.') && !referenced.contains(&stem) {
                gone.push(Entry {
                    name: "(a user kernel package or vmlinux no image is registered with)".into(),
                    kind: Kind::UserKernel,
                    detail: String::new(),
                    key: f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
                    built: std::fs::metadata(&f).and_then(|m| m.modified()).ok(),
                    bytes: bytes(&f),
                    path: f,
                });
            }
        }
    }
    let images_dir = build_dir.join("images");
    for e in &gone {
        let name = e.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // A build of this very directory holds its lock; wait for it rather than pull its files away.
        let _lock = Lock::acquire(&images_dir.join(format!(".{name}.lock")))?;
        let removed = if e.path.is_dir() { std::fs::remove_dir_all(&e.path) } else { std::fs::remove_file(&e.path) };
        removed.with_context(|| format!("removing {}", e.path.display()))?;
        let _ = std::fs::remove_file(images_dir.join(format!(".{name}.lock")));
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: Kind, name: &str, key: &str, path: &str) -> Entry {
        Entry {
            path: PathBuf::from(path),
            name: name.into(),
            kind,
            detail: String::new(),
            key: key.into(),
            built: None,
            bytes: 0,
        }
    }

    #[test]
    fn stale_means_another_key_an_unknown_name_or_a_dead_builder() {
        let mut current = |name: &str| Ok((name == "linux").then(|| "k2".to_string()));
        let mut is = |x: Entry| stale(&x, &mut current).unwrap();
        assert!(!is(e(Kind::BuiltIn, "linux", "k2", "/b/images/linux-k2")));
        assert!(is(e(Kind::BuiltIn, "linux", "k1", "/b/images/linux-k1")));
        assert!(is(e(Kind::UserKernel, "linux-gone", "k", "/b/images/linux-gone-k")));
        assert!(!is(e(Kind::Coal, "coal", "x", "/b/images/coal-x")));
        let me = std::process::id();
        assert!(!is(e(Kind::Unfinished, "", "", &format!("/b/images/.tmp-linux-k3-{me}"))), "its builder runs");
        assert!(is(e(Kind::Unfinished, "", "", "/b/images/.tmp-linux-k3-4294967295")));
    }
}
