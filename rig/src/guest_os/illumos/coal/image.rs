//! `cargo xtask image coal`: prepares a coal headnode from the user's coal tarball or USB
//! image under `<build>/images/coal-<key>/`, never writing the input.
//!
//! The directory: `usb.img` (the rig's raw, sparse copy of the USB image, edited through
//! [`FatFs`] and then made read-only), `usb.qcow2` (the overlay QEMU boots, backed by
//! `usb.img`), `zpool.qcow2` (the empty 60 GiB zpool disk), `client_key` (+`.pub`, also put in
//! `/config.inc/root.authorized_keys`) and `coal.json`. The key hashes the input's path, size
//! and modification time (hashing 3 GB on every run would cost more than it saves), the
//! platform tarball's likewise, and the preparation's version; the directory is filled under
//! a temporary name and renamed when complete, like the Linux images (a preparation that fails
//! or panics removes it). An input whose size or modification time changed by the end of the
//! copy is refused: its copy would be cached under a key that describes something else.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::answers::{ADMIN_MAC, Answers, EXTERNAL_MAC, check, check_macs};
use super::era::{BootConfig, KeyShape};
use super::fat::{FatError, FatFs};
use super::loader::{LoaderOptions, merge};
use super::source::{
    SourceKind, classify, extract_usb_image, find_in_directory, is_stamp, sparse_copy, unpack_platform,
};
use crate::guest_os::linux::image::cache::{Lock, remove_stale_tmp, tmp_dir};

/// Bump when the preparation changes what it writes.
const PREP_VERSION: u32 = 2;
/// The manifest's name.
pub const MANIFEST: &str = "coal.json";

/// What to prepare.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// The coal tarball or raw USB image.
    pub from: PathBuf,
    /// A platform tarball to add and boot (e.g. a DEBUG platform).
    pub platform: Option<PathBuf>,
    /// The build directory (`images/` goes under it).
    pub build_dir: PathBuf,
    /// loader.conf settings (`platform` is filled from `--platform`).
    pub loader: LoaderOptions,
    /// root's and admin's password on the headnode.
    pub password: String,
    /// Size of the sparse zpool disk.
    pub zpool_gib: u32,
}

impl PrepareOptions {
    /// The rig's defaults for an input.
    pub fn new(from: PathBuf, platform: Option<PathBuf>, build_dir: PathBuf) -> Self {
        PrepareOptions {
            from,
            platform,
            build_dir,
            loader: LoaderOptions::default(),
            password: "rig-coal-1".into(),
            zpool_gib: 60,
        }
    }
}

/// `coal.json`: what was prepared from what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The input, as given.
    pub source: PathBuf,
    /// The USB image's name inside a tarball, if the input was one.
    pub source_entry: Option<String>,
    /// The platform tarball, if any.
    pub platform_source: Option<PathBuf>,
    /// The platform stamp booted.
    pub platform: String,
    /// The platforms on the image.
    pub platforms_on_image: Vec<String>,
    /// Boot settings applied (to loader.conf or, on a GRUB-era key, to menu.lst).
    pub loader: LoaderOptions,
    /// The key's era and layout, as read from the key (absent in manifests older than it).
    #[serde(default)]
    pub key: Option<KeyShape>,
    /// The admin NIC's MAC.
    pub admin_mac: String,
    /// The external NIC's MAC.
    pub external_mac: String,
    /// root's password.
    pub root_password: String,
    /// The pinned host key file, once the first boot has read it.
    pub host_key: Option<PathBuf>,
    /// Snapshots of the set-up headnode in `usb.qcow2`/`zpool.qcow2`, one per machine shape
    /// they were saved from (see `setup::setup_tag`).
    #[serde(default)]
    pub setup_snapshots: Vec<String>,
}

/// A prepared coal headnode.
#[derive(Debug, Clone)]
pub struct CoalImage {
    /// The image directory.
    pub dir: PathBuf,
    /// The qcow2 overlay QEMU boots (backed by `usb_base`).
    pub usb: PathBuf,
    /// The rig's raw, edited copy of the USB image (read-only).
    pub usb_base: PathBuf,
    /// The sparse zpool disk.
    pub zpool: PathBuf,
    /// ed25519 private key for root@headnode.
    pub client_key: PathBuf,
    /// The headnode's pinned host key: unknown until the first boot generated it.
    pub host_key: Option<PathBuf>,
    /// The platform stamp booted.
    pub platform: String,
    /// The admin NIC's MAC (the answers file's).
    pub admin_mac: String,
    /// The external NIC's MAC.
    pub external_mac: String,
    /// The manifest.
    pub manifest: Manifest,
}

impl CoalImage {
    /// Loads a prepared image directory.
    pub fn load(dir: &Path) -> Result<CoalImage> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let m: Manifest = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for f in ["usb.img", "usb.qcow2", "zpool.qcow2", "client_key"] {
            if !dir.join(f).is_file() {
                bail!("{}: incomplete coal image, {f} is missing; prepare it again", dir.display());
            }
        }
        Ok(CoalImage {
            dir: dir.to_path_buf(),
            usb: dir.join("usb.qcow2"),
            usb_base: dir.join("usb.img"),
            zpool: dir.join("zpool.qcow2"),
            client_key: dir.join("client_key"),
            host_key: m.host_key.as_ref().map(|h| dir.join(h)),
            platform: m.platform.clone(),
            admin_mac: m.admin_mac.clone(),
            external_mac: m.external_mac.clone(),
            manifest: m,
        })
    }

    /// Records a fact learnt later (the host key, the setup snapshot) in `coal.json`.
    pub fn update_manifest(&mut self, f: impl FnOnce(&mut Manifest)) -> Result<()> {
        f(&mut self.manifest);
        write_manifest(&self.dir, &self.manifest)?;
        *self = CoalImage::load(&self.dir)?;
        Ok(())
    }
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST);
    // It holds the headnode's root password.
    crate::rundir::write_private(&path, (serde_json::to_string_pretty(m)? + "\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// What the cache key knows of an input: its path, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    given: PathBuf,
    abs: PathBuf,
    len: u64,
    mtime_ns: u128,
}

impl Identity {
    /// `path`'s identity now.
    pub fn of(path: &Path) -> Result<Identity> {
        let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let abs = std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))?;
        let mtime_ns =
            meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        Ok(Identity { given: path.to_path_buf(), abs, len: meta.len(), mtime_ns })
    }

    fn hash(&self, h: &mut Sha256) {
        h.update(format!("{}\0{}\0{}\0", self.abs.display(), self.len, self.mtime_ns));
    }

    /// Fails when the input no longer has this identity, or when `copied` (the bytes a raw copy
    /// read) is not its size: it changed while it was being copied, and the copy must not be
    /// cached under a key that describes something else.
    pub fn unchanged(&self, copied: Option<u64>) -> Result<()> {
        let now = Identity::of(&self.given)?;
        if now != *self || copied.is_some_and(|n| n != self.len) {
            bail!(
                "{}: the source changed while it was being copied (it was {} bytes modified at {} ns, {}is {} bytes \
                 modified at {} ns); prepare again once it is complete",
                self.given.display(),
                self.len,
                self.mtime_ns,
                copied.map_or(String::new(), |n| format!("{n} bytes were copied, it ")),
                now.len,
                now.mtime_ns,
            );
        }
        Ok(())
    }
}

/// The inputs' identities: the USB image or tarball, then the platform tarball if any.
/// A `.vmwarevm` directory stands for the USB image in it (its own mtime does not change
/// when the image is rewritten).
fn identities(opts: &PrepareOptions) -> Result<Vec<Identity>> {
    let from = if opts.from.is_dir() { find_in_directory(&opts.from)?.0 } else { opts.from.clone() };
    std::iter::once(&from).chain(&opts.platform).map(|p| Identity::of(p)).collect()
}

/// The directory name for these options (`coal-<16 hex>`).
pub fn dir_name(opts: &PrepareOptions) -> Result<String> {
    key(opts, &identities(opts)?)
}

fn key(opts: &PrepareOptions, ids: &[Identity]) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!("coal prep {PREP_VERSION}\0"));
    for id in ids {
        id.hash(&mut h);
    }
    h.update(serde_json::to_string(&opts.loader)?);
    h.update(format!("\0{}\0{}", opts.password, opts.zpool_gib));
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("coal-{}", &hex[..16]))
}

/// The temporary directory an image is filled in: removed when dropped unpublished, so a failed
/// or panicking preparation leaves no `.tmp-coal-*` behind.
struct TmpDir(Option<PathBuf>);

impl TmpDir {
    /// Renames it to `to`; it is then no longer removed.
    fn publish(mut self, to: &Path) -> Result<()> {
        let tmp = self.0.take().expect("published once");
        if let Err(e) = std::fs::rename(&tmp, to) {
            self.0 = Some(tmp);
            return Err(e).with_context(|| format!("publishing {}", to.display()));
        }
        Ok(())
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = make_writable_and_remove(d);
        }
    }
}

/// Prepares (or finds already prepared) the coal image for `opts`.
pub fn prepare(opts: &PrepareOptions) -> Result<CoalImage> {
    let images = opts.build_dir.join("images");
    crate::rundir::private_dir(&images).with_context(|| format!("creating {}", images.display()))?;
    let ids = identities(opts)?;
    let name = key(opts, &ids)?;
    let dir = images.join(&name);
    let _lock = Lock::acquire(&images.join(format!(".{name}.lock")))?;
    if dir.join(MANIFEST).is_file() {
        if let Ok(img) = CoalImage::load(&dir) {
            tracing::info!(dir = %dir.display(), "coal image already prepared");
            return Ok(img);
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing the incomplete {}", dir.display()))?;
    }
    remove_stale_tmp(&images, &name)?;
    let tmp = TmpDir(Some(tmp_dir(&images, &name)));
    let path = tmp.0.clone().expect("not yet published");
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    fill(opts, &ids, &path)?;
    tmp.publish(&dir)?;
    CoalImage::load(&dir)
}

fn make_writable_and_remove(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::set_permissions(dir.join("usb.img"), std::fs::Permissions::from_mode(0o644));
    std::fs::remove_dir_all(dir)
}

/// Fills `dir` with a prepared image from the inputs `ids` describe (as [`identities`] lists
/// them); an input that changed meanwhile is refused.
fn fill(opts: &PrepareOptions, ids: &[Identity], dir: &Path) -> Result<()> {
    let input = &opts.from;
    let usb = dir.join("usb.img");
    let source_entry = match classify(input)? {
        kind @ (SourceKind::TarGz | SourceKind::Tar) => Some(extract_usb_image(input, kind, &usb)?),
        SourceKind::RawImage => {
            let mut f = std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
            let copied = sparse_copy(&mut f, &usb)?;
            ids[0].unchanged(Some(copied))?;
            None
        }
        SourceKind::Directory => {
            let (path, name) = find_in_directory(input)?;
            let mut f = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            let copied = sparse_copy(&mut f, &usb)?;
            ids[0].unchanged(Some(copied))?;
            Some(name)
        }
    };
    let named = |e: FatError| -> anyhow::Error {
        match e {
            FatError::NoFat { found, .. } => anyhow!(FatError::NoFat { file: input.clone(), found }),
            FatError::Invalid { what, .. } => anyhow!(FatError::Invalid { file: input.clone(), what }),
            other => anyhow!(other).context(format!("editing the copy of {}", input.display())),
        }
    };
    let fat = FatFs::open(&usb).map_err(named)?;
    let not_smartos = |what: &str| {
        anyhow!(
            "{}: the FAT partition has no {what}: not a SmartOS/coal USB image (expected /boot/grub/menu.lst or \
             /boot/loader.conf, and /os/<PI>/platform/i86pc/kernel/amd64/unix)",
            input.display()
        )
    };
    let mut platforms: Vec<String> =
        fat.list("os").map_err(|_| not_smartos("/os/ directory"))?.into_iter().filter(|s| is_stamp(s)).collect();
    platforms.sort();
    // The table is read from the copy (the input may be a tarball or a directory).
    let shape = super::era::detect(&usb, &fat).map_err(|e| anyhow!("{}: {e:#}", input.display()))?;
    let own = platforms.last().cloned().ok_or_else(|| not_smartos("platform under /os/"))?;
    let platform = match &opts.platform {
        Some(p) => unpack_platform(p, &fat)?,
        None => own.clone(),
    };
    super::compat::check(&shape, &platform, &own).map_err(|e| anyhow!("{}: {e}", input.display()))?;
    tracing::info!(key = %shape.describe(), platform = %platform, "coal key");
    for id in ids {
        id.unchanged(None)?;
    }
    let mut loader = opts.loader.clone();
    loader.platform = opts.platform.as_ref().map(|_| platform.clone());
    let conf = match fat.read(shape.boot.path()) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(FatError::Missing { .. }) => return Err(not_smartos(&format!("/{}", shape.boot.path()))),
        Err(e) => return Err(named(e)),
    };
    let edited = match shape.boot {
        BootConfig::LoaderConf => merge(&conf, &loader),
        BootConfig::GrubMenu => {
            let on_key = |p: &str| fat.exists(p);
            super::menu_lst::edit(&conf, &loader, &on_key)
                .map_err(|e| anyhow!("{}: /{}: {e}", input.display(), shape.boot.path()))?
        }
    };
    fat.write(shape.boot.path(), edited.as_bytes()).map_err(named)?;

    // Checked against setup's questions before it is written (a weak admin password is an error
    // here, not a setup that waits at the console).
    let answers = Answers::coal(ADMIN_MAC, EXTERNAL_MAC, &opts.password).to_json()?;
    fat.write("private/answers.json", answers.as_bytes()).map_err(named)?;
    let client_key = dir.join("client_key");
    let public = crate::guest_os::linux::image::keys::generate_client_key(&client_key, "rig@coal")?;
    fat.write("config.inc/root.authorized_keys", public.as_bytes()).map_err(named)?;
    fat.close().map_err(named)?;

    // Read back what setup will read, and check it against the machine the rig will start.
    let fat = FatFs::open(&usb).map_err(named)?;
    let written = String::from_utf8_lossy(&fat.read("private/answers.json").map_err(named)?).into_owned();
    let boot = String::from_utf8_lossy(&fat.read(shape.boot.path()).map_err(named)?).into_owned();
    drop(fat);
    read_back(&shape, &boot, &loader)
        .map_err(|e| anyhow!("{}: /{} read back: {e}", usb.display(), shape.boot.path()))?;
    crate::qemu::img::overlay(dir, "usb.qcow2", "usb.img")?;
    crate::qemu::img::create(dir, "zpool.qcow2", &format!("{}G", opts.zpool_gib))?;
    std::fs::set_permissions(&usb, std::fs::Permissions::from_mode(0o444))?;
    let manifest = Manifest {
        source: input.clone(),
        source_entry,
        platform_source: opts.platform.clone(),
        platform,
        platforms_on_image: platforms,
        loader,
        key: Some(shape),
        admin_mac: ADMIN_MAC.into(),
        external_mac: EXTERNAL_MAC.into(),
        root_password: opts.password.clone(),
        host_key: None,
        setup_snapshots: Vec::new(),
    };
    write_manifest(dir, &manifest)?;
    let img = CoalImage::load(dir)?;
    let spec =
        img.machine(crate::machine::cpu::lookup("epyc").expect("epyc model"), crate::machine::Accel::Kvm, 8192, 4);
    let mac = |i: usize| spec.nics[i].mac.clone().unwrap_or_default();
    let on_usb = format!("{}:/private/answers.json", usb.display());
    check(Path::new(&on_usb), &written)?;
    check_macs(Path::new(&on_usb), &written, &mac(0), &mac(1))?;
    Ok(())
}

/// Checks the boot configuration as written says what `loader` asks.
fn read_back(shape: &KeyShape, written: &str, loader: &LoaderOptions) -> Result<(), String> {
    match shape.boot {
        BootConfig::GrubMenu => super::menu_lst::check(written, loader),
        // Merging again changes nothing only when every edit is already there.
        BootConfig::LoaderConf if merge(written, loader) == written => Ok(()),
        BootConfig::LoaderConf => Err("the rig's settings are not all in it".into()),
    }
}

/// The prepared coal images under `build_dir`, newest first (for `--image coal` without
/// `--from`: the engine takes the first).
pub fn prepared(build_dir: &Path) -> Vec<CoalImage> {
    let Ok(rd) = std::fs::read_dir(build_dir.join("images")) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, CoalImage)> = rd
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("coal-"))
        .filter_map(|e| {
            let img = CoalImage::load(&e.path()).ok()?;
            let t = std::fs::metadata(e.path().join(MANIFEST)).and_then(|m| m.modified()).ok()?;
            Some((t, img))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A preparation that fails or panics leaves no temporary directory, read-only copy and all;
    /// a published one is kept.
    #[test]
    fn the_temporary_directory_goes_unless_published() {
        let d = std::env::temp_dir().join(format!("rig-coal-tmpdir-{}", std::process::id()));
        let fill = |name: &str| {
            let tmp = d.join(name);
            std::fs::create_dir_all(&tmp).unwrap();
            std::fs::write(tmp.join("usb.img"), b"x").unwrap();
            std::fs::set_permissions(tmp.join("usb.img"), std::fs::Permissions::from_mode(0o444)).unwrap();
            TmpDir(Some(tmp))
        };
        let tmp = fill(".tmp-coal-a");
        let panicked = std::panic::catch_unwind(move || {
            let _tmp = tmp;
            panic!("a crafted image");
        });
        assert!(panicked.is_err() && !d.join(".tmp-coal-a").exists());
        drop(fill(".tmp-coal-b"));
        assert!(!d.join(".tmp-coal-b").exists());
        fill(".tmp-coal-c").publish(&d.join("coal-c")).unwrap();
        assert!(d.join("coal-c/usb.img").exists() && !d.join(".tmp-coal-c").exists());
        let _ = make_writable_and_remove(&d.join("coal-c"));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// An input that shrinks (or is rewritten) after its identity made the cache key is refused,
    /// and so is a raw copy that read fewer bytes than the key's size.
    #[test]
    fn a_source_that_changes_while_copied_is_refused() {
        let d = std::env::temp_dir().join(format!("rig-coal-identity-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let src = d.join("usb.img");
        std::fs::write(&src, vec![1u8; 4096]).unwrap();
        let before = Identity::of(&src).unwrap();
        before.unchanged(Some(4096)).unwrap();
        let e = format!("{:#}", before.unchanged(Some(1024)).unwrap_err());
        assert!(e.contains("usb.img: the source changed while it was being copied (it was 4096 bytes"), "{e}");
        assert!(e.contains("1024 bytes were copied, it is 4096 bytes"), "{e}");

        std::fs::File::options().write(true).open(&src).unwrap().set_len(1024).unwrap();
        let e = format!("{:#}", before.unchanged(None).unwrap_err());
        assert!(e.contains("the source changed while it was being copied") && e.contains("is 1024 bytes"), "{e}");
        // The key follows what the input is now.
        let opts = PrepareOptions::new(src.clone(), None, d.clone());
        assert_ne!(key(&opts, &[before]).unwrap(), dir_name(&opts).unwrap());
        let _ = std::fs::remove_dir_all(&d);
    }
}
