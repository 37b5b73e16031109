//! The coal stand-in: a test fixture shaped exactly like a SmartOS coal USB image of either era
//! (GRUB: MBR, FAT root on partition 1, `boot/grub/menu.lst`; loader: GPT, FAT root on
//! partition 3, `boot/loader.conf`; both with `/os/<PI>/`) that boots Debian's Linux kernel
//! with a userland imitating a coal headnode as the rig sees it: it reads what the rig writes
//! on the FAT partition, prints illumos console text on the OS console port, runs setup with a
//! real reboot, answers the illumos commands the rig runs (shell scripts), and panics with
//! OS-7410 on a DEBUG platform without the fix. The rig's whole coal path can then run for
//! real without a SmartOS image. Nothing else in the rig knows about it.
//!
//! Built from `images/coal-stand-in/` (see its README.md) and Debian packages, on top of the
//! `linux` image's initrd, and cached in `<build>/stand-in/<key>/`; the key hashes the recipe
//! files, the exact package versions and the base image, so it is rebuilt only when one of
//! those changes. The directory is filled under a temporary name and renamed when complete.

mod disk;
pub mod recipe;
mod tarballs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::guest_os::linux::image::cache::{Lock, remove_stale_tmp, tmp_dir};
use crate::guest_os::linux::image::packages::{self, Package, hex};
use recipe::{DEBUG_BUGGY_PLATFORM, DEBUG_FIXED_PLATFORM, DEBUG_PINNED_PLATFORM, FILES};

pub use tarballs::{BUNDLE_DIR, USB_IMAGE_NAME};

/// Bump when the build changes what it makes.
const BUILD_VERSION: u32 = 4;
/// The coal tarball's file name.
pub const TARBALL: &str = "coal-stand-in.tgz";
/// The GRUB-era coal tarball's file name: an MBR key with `boot/grub/menu.lst`, named `4gb.img`.
pub const GRUB_TARBALL: &str = "coal-stand-in-grub-4gb.tgz";
/// The manifest written last: its presence means the directory is complete.
const MANIFEST: &str = "stand-in.json";

/// A built stand-in: the inputs `cargo xtask image coal --from ... [--platform ...]` takes.
#[derive(Debug, Clone)]
pub struct StandIn {
    /// The cache directory.
    pub dir: PathBuf,
    /// `coal-stand-in.tgz`, holding `<bundle>.vmwarevm/coal-stand-in-8gb.img`: the loader-era key
    /// (GPT, pcfs root on partition 3, `boot/loader.conf`, platform 2023 whose fs-joyent finds
    /// it). A 2018 platform cannot mount it: the rig refuses that pair before any boot.
    pub tarball: PathBuf,
    /// `coal-stand-in-grub-4gb.tgz`: the GRUB-era key (MBR, pcfs on partition 1,
    /// `boot/grub/menu.lst` read by the stand-in's own reader), as `<bundle>/4gb.img`.
    pub grub_tarball: PathBuf,
    /// `platform-debug-20181206T011455Z.tgz`: DEBUG, without the OS-7410 fix.
    pub debug_buggy_platform: PathBuf,
    /// `platform-debug-20181220T002335Z.tgz`: DEBUG, with the fix.
    pub debug_fixed_platform: PathBuf,
    /// `platform-debug-20190418T000000Z-vmm-pinned.tgz`: a DEBUG platform with the buggy race code
    /// on which vmm can never be unloaded (`Device busy`): a race on it is never exercised. Its
    /// stamp is of the loader era, so it boots from the loader-era key.
    pub debug_pinned_platform: PathBuf,
}

/// What a built stand-in was made from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Manifest {
    key: String,
    base_image: PathBuf,
    kernel_release: String,
    packages: Vec<Package>,
    build_seconds: f64,
}

impl StandIn {
    fn at(dir: PathBuf) -> StandIn {
        StandIn {
            tarball: dir.join(TARBALL),
            grub_tarball: dir.join(GRUB_TARBALL),
            debug_buggy_platform: dir.join(platform_file(DEBUG_BUGGY_PLATFORM)),
            debug_fixed_platform: dir.join(platform_file(DEBUG_FIXED_PLATFORM)),
            debug_pinned_platform: dir.join(pinned_platform_file(DEBUG_PINNED_PLATFORM)),
            dir,
        }
    }

    fn complete(&self) -> bool {
        self.dir.join(MANIFEST).is_file()
            && [
                &self.tarball,
                &self.grub_tarball,
                &self.debug_buggy_platform,
                &self.debug_fixed_platform,
                &self.debug_pinned_platform,
            ]
            .iter()
            .all(|p| p.is_file())
    }
}

fn platform_file(pi: &str) -> String {
    format!("platform-debug-{pi}.tgz")
}

fn pinned_platform_file(pi: &str) -> String {
    format!("platform-debug-{pi}-vmm-pinned.tgz")
}

fn cache_key(base: &crate::guest_os::linux::image::LinuxImage, pkgs: &[Package]) -> String {
    let mut h = Sha256::new();
    h.update(format!("coal stand-in {BUILD_VERSION}\nbase={}\n", base.dir.display()));
    for p in pkgs {
        h.update(format!("pkg={} {} {} {}\n", p.name, p.version, p.architecture, p.sha256));
    }
    for f in FILES {
        h.update(format!("file={} {}\n", f.name, f.contents.len()));
        h.update(f.contents);
    }
    hex(&h.finalize())[..16].to_string()
}

/// Builds (or finds in the cache) the coal stand-in under `build_dir`.
pub fn ensure_stand_in(build_dir: &Path) -> Result<StandIn> {
    let base = crate::guest_os::linux::image::ensure_image(build_dir, "linux")
        .context("building the linux image the stand-in extends")?;
    let pkgs = packages::resolve(recipe::file("packages")).context("resolving the stand-in's Debian packages")?;
    let kernel = pkgs.iter().find(|p| p.kernel).context("no kernel package")?;
    if kernel.kernel_release() != Some(base.kernel_release.as_str()) {
        bail!(
            "the stand-in's kernel {} is not the linux image's {} (an apt-get update between the two builds?); run again",
            kernel.name,
            base.kernel_release
        );
    }
    let key = cache_key(&base, &pkgs);
    let root = build_dir.join("stand-in");
    let out = StandIn::at(root.join(&key));
    if out.complete() {
        return Ok(out);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let _lock = Lock::acquire(&root.join(format!(".{key}.lock")))?;
    if out.complete() {
        return Ok(out); // another process built it while we waited
    }
    if out.dir.exists() {
        std::fs::remove_dir_all(&out.dir).with_context(|| format!("removing the incomplete {}", out.dir.display()))?;
    }
    remove_stale_tmp(&root, &key)?;
    // The notice's time counts the download too; the manifest's build time does not.
    let asked = Instant::now();
    tracing::info!(target: crate::guest_os::NOTICE, "building the coal stand-in...");
    let debs = packages::download(&build_dir.join("debs"), &pkgs)?;
    let started = Instant::now();
    tracing::info!(key = %key, "building the coal stand-in");
    let tmp = tmp_dir(&root, &key);
    std::fs::create_dir_all(&tmp)?;
    let manifest = Manifest {
        key: key.clone(),
        base_image: base.dir.clone(),
        kernel_release: base.kernel_release.clone(),
        packages: pkgs.clone(),
        build_seconds: 0.0,
    };
    if let Err(e) = build(&base, &pkgs, &debs, &tmp, manifest, started) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &out.dir).with_context(|| format!("publishing {}", out.dir.display()))?;
    tracing::info!(dir = %out.dir.display(), seconds = started.elapsed().as_secs_f64(), "coal stand-in built");
    tracing::info!(target: crate::guest_os::NOTICE, "the coal stand-in built in {}", crate::guest_os::took(asked));
    Ok(out)
}

fn build(
    base: &crate::guest_os::linux::image::LinuxImage,
    pkgs: &[Package],
    debs: &[PathBuf],
    work: &Path,
    mut manifest: Manifest,
    started: Instant,
) -> Result<()> {
    let recipe_dir = work.join("recipe");
    for f in FILES {
        let path = recipe_dir.join(f.name);
        std::fs::create_dir_all(path.parent().expect("a recipe file has a parent"))?;
        std::fs::write(&path, f.contents)?;
    }
    use crate::guest_os::linux::image::{deb, unpack};
    let modules = FILES.iter().find(|f| f.name == "modules").map(|f| f.contents).unwrap_or("");
    let kernel = unpack::KernelPaths::new(&base.kernel_release, modules, false);
    unpack::unpack(debs, pkgs, &kernel, &work.join("pkg"), None)?;
    // busybox and busybox-static both ship /bin/busybox: each kept apart, as WORK/<package>.
    for name in ["busybox-static", "busybox"] {
        let i = pkgs.iter().position(|p| p.name == name);
        let i = i.with_context(|| format!("images/coal-stand-in/packages names no {name}"))?;
        let out = work.join(name);
        deb::extract_member(&debs[i], "./bin/busybox", Some(std::fs::File::create(&out)?))?;
        std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let mut cmd = Command::new("sh");
    cmd.arg(recipe_dir.join("build.sh")).arg(work).arg(&base.kernel_release);
    let out =
        crate::guest_os::linux::image::script::output(&mut cmd).context("running images/coal-stand-in/build.sh")?;
    if !out.status.success() {
        bail!(
            "images/coal-stand-in/build.sh failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    // The initrd: the linux image's, then the overlay (the kernel unpacks concatenated
    // compressed cpio archives in order; later files replace earlier ones, e.g. /init).
    let overlay = work.join("overlay.cpio.gz");
    crate::guest_os::linux::image::cpio::write_gz(&work.join("root"), &[], &overlay)?;
    let initrd = work.join("initrd.gz");
    let mut bytes = std::fs::read(&base.initrd).with_context(|| format!("reading {}", base.initrd.display()))?;
    bytes.extend(std::fs::read(&overlay)?);
    std::fs::write(&initrd, bytes)?;

    let inputs = disk::DiskInputs { kernel: &work.join("vmlinuz"), initrd: &initrd, pkg: &work.join("pkg") };
    for (era, name, tarball) in
        [(disk::Era::Loader, USB_IMAGE_NAME, TARBALL), (disk::Era::Grub, tarballs::GRUB_USB_IMAGE_NAME, GRUB_TARBALL)]
    {
        let img = work.join(name);
        disk::make_usb_image(&img, era, &inputs).with_context(|| format!("making the stand-in's {era:?}-era key"))?;
        tarballs::write_coal_tarball_as(&img, name, &work.join(tarball))?;
        std::fs::remove_file(&img)?;
    }
    tarballs::write_platform_tarball(
        DEBUG_BUGGY_PLATFORM,
        true,
        false,
        &work.join(platform_file(DEBUG_BUGGY_PLATFORM)),
    )?;
    tarballs::write_platform_tarball(
        DEBUG_FIXED_PLATFORM,
        true,
        true,
        &work.join(platform_file(DEBUG_FIXED_PLATFORM)),
    )?;

    let pinned = recipe::pinned_unix_text(DEBUG_PINNED_PLATFORM, true, false);
    tarballs::write_platform_tarball_with(
        DEBUG_PINNED_PLATFORM,
        false,
        &recipe::with_flag(&pinned, recipe::FS_JOYENT_USB_KEY),
        &work.join(pinned_platform_file(DEBUG_PINNED_PLATFORM)),
    )?;
    for scratch in ["pkg", "root"] {
        std::fs::remove_dir_all(work.join(scratch)).with_context(|| format!("removing {scratch}/"))?;
    }
    for f in ["vmlinuz", "overlay.cpio.gz", "initrd.gz", "busybox"] {
        std::fs::remove_file(work.join(f))?;
    }
    manifest.build_seconds = started.elapsed().as_secs_f64();
    std::fs::write(work.join(MANIFEST), serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(())
}
