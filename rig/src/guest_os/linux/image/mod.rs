//! Guest images: building and caching the embedded default Linux guest.
//!
//! An image is built from Debian packages (`apt-get download`, unpacked in-process by `deb`, nothing
//! installed on the host) by the recipe in `images/linux/`, and cached in
//! `<build>/images/<name>-<key>/`, where the key hashes the exact package versions and the
//! recipe files: it is rebuilt only when one of those changes. Downloads are cached in
//! `<build>/debs/`. Variants (`linux-os7410-debug`, `linux-os7410-fixed`) add files, kernel
//! arguments and build hooks, e.g. out-of-tree modules compiled against the kernel's headers;
//! an image built from another (the OS-7410 bisection series) links that one's artifacts and
//! adds kernel arguments.

mod build;
pub mod cache;
pub mod cpio;
pub mod deb;
pub mod debuginfo;
mod derived;
pub mod kconfig;
pub mod kernel_pack;
pub mod keys;
mod machine;
pub mod packages;
pub mod plan;
pub mod recipe;
pub mod script;
pub mod unpack;
pub mod user_kernel;
pub mod vmlinux;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use cache::{CLIENT_KEY, HOST_KEY, INITRD, KERNEL, Lock, MANIFEST, Manifest};
use recipe::RECIPES;

/// A built guest image: what QEMU boots and how to log in.
#[derive(Debug, Clone)]
pub struct LinuxImage {
    /// The image's name (`linux`).
    pub name: String,
    /// The cache directory holding everything below.
    pub dir: PathBuf,
    /// Uncompressed ELF vmlinux for `-kernel` (PVH boot).
    pub kernel: PathBuf,
    /// The initramfs, a gzip'd newc cpio.
    pub initrd: PathBuf,
    /// Base kernel command line; the rig appends per-run extras.
    pub cmdline: String,
    /// ed25519 private key (OpenSSH format) for root@guest.
    pub client_key: PathBuf,
    /// The guest's host public key, one OpenSSH line, to pin.
    pub host_key: PathBuf,
    /// `manifest.json`: packages and versions, recipe hashes, kernel release, build time.
    pub manifest: PathBuf,
    /// The guest kernel's release (`uname -r`), e.g. `6.1.0-41-amd64`.
    pub kernel_release: String,
    /// Listed modules a user's kernel builds in or lacks.
    pub module_notes: Vec<String>,
    /// The kernel's debug vmlinux, when the rig has it (a user tree's `vmlinux`, or the
    /// archive's `-dbg` one once fetched): `crash` reads this image's dumps with it.
    pub debug_vmlinux: Option<PathBuf>,
}

impl LinuxImage {
    /// How the rig logs in to a guest booted from this image.
    pub fn ssh_keys(&self) -> crate::ssh::SshKeys {
        crate::ssh::SshKeys { client_key: self.client_key.clone(), host_key: self.host_key.clone() }
    }

    fn new(dir: PathBuf, m: &Manifest) -> LinuxImage {
        LinuxImage {
            name: m.name.clone(),
            kernel: dir.join(KERNEL),
            initrd: dir.join(INITRD),
            cmdline: m.cmdline.clone(),
            client_key: dir.join(CLIENT_KEY),
            host_key: dir.join(HOST_KEY),
            manifest: dir.join(MANIFEST),
            kernel_release: m.kernel_release.clone(),
            module_notes: m.module_notes.clone(),
            debug_vmlinux: None,
            dir,
        }
    }
}

/// Names of the images the rig knows.
pub fn known_images() -> &'static [&'static str] {
    const NAMES: [&str; RECIPES.len()] = {
        let mut names = [""; RECIPES.len()];
        let mut i = 0;
        while i < RECIPES.len() {
            names[i] = RECIPES[i].name;
            i += 1;
        }
        names
    };
    &NAMES
}

/// The Debian packages the host needs to build images.
pub fn host_packages() -> &'static [&'static str] {
    packages::HOST_PACKAGES
}

/// Builds (or finds in the cache) the named image under `build_dir`: a built-in one, or a
/// user kernel registered with `cargo xtask image linux --kernel`.
pub fn ensure_image(build_dir: &Path, name: &str) -> Result<LinuxImage> {
    let plan = plan::plan(build_dir, name)?;
    let user_symbols = plan.user.as_ref().map(|k| k.debug_vmlinux(build_dir));
    let mut image = build_or_find(build_dir, name, plan)?;
    image.debug_vmlinux = match user_symbols {
        Some(tree_vmlinux) => tree_vmlinux,
        None => {
            let fetched = debuginfo::debug_vmlinux_path(build_dir, &image.kernel_release);
            fetched.is_file().then_some(fetched)
        }
    };
    Ok(image)
}

/// The image `plan` makes: from the cache, or built now.
fn build_or_find(build_dir: &Path, name: &str, plan: plan::Plan) -> Result<LinuxImage> {
    let plan::Plan { recipe, packages: pkgs, kernel_idx, key, user, built_from } = plan;
    let user = user.as_ref();
    let images_dir = build_dir.join("images");
    let dir_name = format!("{name}-{key}");
    let dir = images_dir.join(&dir_name);
    // Images hold the guests' private host keys.
    crate::rundir::private_dir(&images_dir).with_context(|| format!("creating {}", images_dir.display()))?;
    if let Some(m) = cache::load_sound(&dir) {
        tracing::debug!(image = name, dir = %dir.display(), "image cache hit");
        return Ok(LinuxImage::new(dir, &m));
    }
    // The base first, outside this image's lock (it takes its own).
    let base = match built_from {
        Some(base) => Some(build_or_find(build_dir, base.recipe.name, *base)?),
        None => None,
    };

    let _lock = Lock::acquire(&images_dir.join(format!(".{dir_name}.lock")))?;
    if let Some(m) = cache::load_sound(&dir) {
        return Ok(LinuxImage::new(dir, &m)); // another process built it while we waited
    }
    if dir.exists() {
        tracing::warn!(dir = %dir.display(), "removing an incomplete image");
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    cache::remove_stale_tmp(&images_dir, &dir_name)?;
    // A build takes seconds to minutes: the terminal hears of it.
    let started = Instant::now();
    tracing::info!(target: crate::guest_os::NOTICE, "building image {name}...");
    if let Some(base) = base {
        let tmp = cache::tmp_dir(&images_dir, &dir_name);
        derived::build(recipe, &base, &key, &tmp).with_context(|| format!("building image {name}"))?;
        let manifest = cache::seal(&tmp)?;
        std::fs::rename(&tmp, &dir).with_context(|| format!("publishing {}", dir.display()))?;
        tracing::info!(image = name, from = %base.dir.display(), "guest image linked");
        tracing::info!(target: crate::guest_os::NOTICE, "image {name} built in {}", crate::guest_os::took(started));
        return Ok(LinuxImage::new(dir, &manifest));
    }

    let debs = match user {
        None => packages::download(&build_dir.join("debs"), &pkgs)?,
        Some(k) => {
            let mut others = pkgs.clone();
            others.remove(kernel_idx);
            let mut debs = packages::download(&build_dir.join("debs"), &others)?;
            debs.insert(kernel_idx, k.deb(build_dir));
            debs
        }
    };
    let kernel_release = match user {
        Some(k) => k.kernel_release.clone(),
        None => pkgs[kernel_idx].kernel_release().context("kernel package name")?.to_string(),
    };
    tracing::info!(image = name, key = %key, "building guest image");
    let tmp = cache::tmp_dir(&images_dir, &dir_name);
    let job = build::Job {
        name,
        recipe,
        packages: &pkgs,
        debs: &debs,
        kernel_release: &kernel_release,
        user_kernel: user.is_some(),
    };
    build::build(&job, &tmp, &key).with_context(|| format!("building image {name}"))?;
    let manifest = cache::seal(&tmp)?;
    std::fs::rename(&tmp, &dir).with_context(|| format!("publishing {}", dir.display()))?;
    tracing::info!(
        image = name,
        dir = %dir.display(),
        seconds = started.elapsed().as_secs_f64(),
        "guest image built"
    );
    tracing::info!(target: crate::guest_os::NOTICE, "image {name} built in {}", crate::guest_os::took(started));
    Ok(LinuxImage::new(dir, &manifest))
}
