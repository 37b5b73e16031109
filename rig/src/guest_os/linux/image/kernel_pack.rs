//! A kernel that is not a package, packed into a Debian kernel package laid out as `make
//! bindeb-pkg` lays one out (`/boot/vmlinuz-<release>`, `/boot/config-<release>`, the modules
//! under `/lib/modules/<release>/kernel/`), so that it takes the package's path: the same
//! checks before any build, the same cache, the same image. Two sources:
//! - a built tree (`arch/x86/boot/bzImage`, `.config`, `include/config/kernel.release`, the
//!   modules `modules.order` lists);
//! - a bare `bzImage` or ELF `vmlinux`, with its configuration (`--config`, or the one built
//!   into it with `CONFIG_IKCONFIG`) and its installed modules (`--modules`: what
//!   `make modules_install INSTALL_MOD_PATH=` leaves, `lib/modules/<release>/`).
//!
//! Only the user's files are read: none is ever written to.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail, ensure};

/// Where `make` leaves the compressed kernel.
const BZIMAGE: &str = "arch/x86/boot/bzImage";
/// Where `make` writes the release (`uname -r`) it built.
const RELEASE: &str = "include/config/kernel.release";

/// What goes into the package.
pub struct Parts {
    /// `uname -r`.
    pub release: String,
    /// The kernel: a bzImage or an ELF vmlinux.
    pub kernel: PathBuf,
    /// Its configuration's text.
    pub config: String,
    /// Each module: the built file, and its path under `lib/modules/<release>/kernel/`.
    pub modules: Vec<(PathBuf, String)>,
    /// `modules.builtin` (paths under `kernel/`).
    pub builtin: String,
    /// Where it came from, for the package's description and errors.
    pub source: PathBuf,
}

/// The modules a `modules.order` lists, as `.ko` paths (kernels from 6.2 list `.o` files in a
/// tree's `modules.order`, older ones `.ko`).
pub fn modules_in_order(order: &str) -> Vec<String> {
    order
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.strip_suffix(".o") {
            Some(stem) => format!("{stem}.ko"),
            None => l.to_string(),
        })
        .collect()
}

/// The parts of a built tree; refuses a tree that is not built, naming what is missing.
pub fn from_tree(tree: &Path) -> Result<Parts> {
    let release = std::fs::read_to_string(tree.join(RELEASE)).map(|r| r.trim().to_string()).map_err(|_| {
        anyhow!(
            "{} has no {RELEASE}: it is not a configured and built kernel tree (run `make` there first)",
            tree.display()
        )
    })?;
    ensure!(!release.is_empty() && !release.contains('/'), "{}: {RELEASE} holds no release", tree.display());
    ensure!(
        tree.join(BZIMAGE).is_file(),
        "{} has no {BZIMAGE}: the kernel is not built (run `make bzImage modules` there)",
        tree.display()
    );
    let config =
        std::fs::read_to_string(tree.join(".config")).map_err(|_| anyhow!("{} has no .config", tree.display()))?;
    let order = std::fs::read_to_string(tree.join("modules.order")).unwrap_or_default();
    let mut modules = Vec::new();
    for m in modules_in_order(&order) {
        let built = tree.join(&m);
        ensure!(
            built.is_file(),
            "{}: modules.order lists {m}, which is not built (run `make modules` there)",
            tree.display()
        );
        modules.push((built, m));
    }
    let builtin = std::fs::read_to_string(tree.join("modules.builtin")).unwrap_or_default();
    Ok(Parts { release, kernel: tree.join(BZIMAGE), config, modules, builtin, source: tree.to_path_buf() })
}

/// The release a kernel image names in its `Linux version <release> (...)` banner.
pub fn release_in_banner(bytes: &[u8]) -> Option<String> {
    const BANNER: &[u8] = b"Linux version ";
    let at = bytes.windows(BANNER.len()).position(|w| w == BANNER)? + BANNER.len();
    let rest = &bytes[at..bytes.len().min(at + 128)];
    let end = rest.iter().position(|b| *b == b' ' || *b == 0)?;
    let release = std::str::from_utf8(&rest[..end]).ok()?;
    (!release.is_empty() && !release.contains('/')).then(|| release.to_string())
}

/// The release a bzImage's setup header points at (`kernel_version`, at 0x20e: the string's
/// offset less 0x200), as `6.1.0-42-amd64 (builder@host) #1 SMP ...` starts.
pub fn release_in_setup_header(bz: &[u8]) -> Option<String> {
    let ptr = u16::from_le_bytes(bz.get(0x20e..0x210)?.try_into().ok()?) as usize;
    let at = ptr.checked_add(0x200)?;
    let rest = bz.get(at..bz.len().min(at + 128))?;
    let end = rest.iter().position(|b| *b == b' ' || *b == 0)?;
    let release = std::str::from_utf8(&rest[..end]).ok()?;
    (!release.is_empty() && !release.contains('/') && release.contains('.')).then(|| release.to_string())
}

/// The configuration built into a kernel with `CONFIG_IKCONFIG` (gzip between `IKCFG_ST` and
/// `IKCFG_ED`), if it has one.
pub fn ikconfig(elf: &[u8]) -> Option<String> {
    use std::io::Read as _;
    let at = elf.windows(8).position(|w| w == b"IKCFG_ST")? + 8;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&elf[at..]).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The parts of a bare kernel (`bzImage` or ELF `vmlinux`), its configuration and its
/// installed modules (`lib/modules/<release>`, or a directory holding `lib/modules/<release>`).
pub fn from_bare(kernel: &Path, config: Option<&Path>, modules: Option<&Path>) -> Result<Parts> {
    let bytes = std::fs::read(kernel).with_context(|| format!("reading {}", kernel.display()))?;
    // A bzImage's banner is in its uncompressed setup code; a vmlinux has it as it is.
    let elf = if bytes.starts_with(b"\x7fELF") { None } else { super::vmlinux::extract_elf(&bytes).ok() };
    let release =
        release_in_setup_header(&bytes).or_else(|| release_in_banner(elf.as_deref().unwrap_or(&bytes))).with_context(
            || format!("{}: no `Linux version <release>` banner: is it a Linux kernel image?", kernel.display()),
        )?;
    let config = match config {
        Some(c) => std::fs::read_to_string(c).with_context(|| format!("reading the configuration {}", c.display()))?,
        None => ikconfig(elf.as_deref().unwrap_or(&bytes)).with_context(|| {
            format!(
                "{}: give its configuration with --config (it was not built with CONFIG_IKCONFIG, so it does not carry one)",
                kernel.display()
            )
        })?,
    };
    let (modules, builtin) = match modules {
        None => (Vec::new(), String::new()),
        Some(dir) => installed_modules(dir, &release)?,
    };
    Ok(Parts { release, kernel: kernel.to_path_buf(), config, modules, builtin, source: kernel.to_path_buf() })
}

/// The modules `make modules_install` installed for `release` under `dir`.
fn installed_modules(dir: &Path, release: &str) -> Result<(Vec<(PathBuf, String)>, String)> {
    let nested = dir.join("lib/modules").join(release);
    let root = if nested.is_dir() { nested } else { dir.to_path_buf() };
    let order = std::fs::read_to_string(root.join("modules.order")).with_context(|| {
        format!(
            "--modules {}: no modules.order for {release} there (give lib/modules/{release} as `make modules_install` left it)",
            dir.display()
        )
    })?;
    let mut modules = Vec::new();
    for m in modules_in_order(&order) {
        let file = root.join(&m);
        ensure!(file.is_file(), "--modules {}: modules.order lists {m}, which is not there", dir.display());
        let under_kernel = m.strip_prefix("kernel/").unwrap_or(&m).to_string();
        modules.push((file, under_kernel));
    }
    Ok((modules, std::fs::read_to_string(root.join("modules.builtin")).unwrap_or_default()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    Ok(())
}

/// Packs `parts` into `<out_dir>/linux-image-<release>_<release>_amd64.deb`.
pub fn pack(parts: &Parts, out_dir: &Path) -> Result<PathBuf> {
    let stage = out_dir.join(format!(".tmp-pack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let result = stage_and_build(parts, &stage, out_dir);
    let _ = std::fs::remove_dir_all(&stage);
    result
}

fn stage_and_build(p: &Parts, stage: &Path, out_dir: &Path) -> Result<PathBuf> {
    let release = &p.release;
    copy(&p.kernel, &stage.join(format!("boot/vmlinuz-{release}")))?;
    std::fs::write(stage.join(format!("boot/config-{release}")), &p.config)?;
    let mods = stage.join(format!("lib/modules/{release}"));
    std::fs::create_dir_all(&mods)?;
    for (file, under_kernel) in &p.modules {
        copy(file, &mods.join("kernel").join(under_kernel))?;
    }
    let listed: String = p.modules.iter().map(|(_, m)| format!("kernel/{m}\n")).collect();
    std::fs::write(mods.join("modules.order"), listed)?;
    std::fs::write(mods.join("modules.builtin"), &p.builtin)?;
    std::fs::create_dir_all(stage.join("DEBIAN"))?;
    let control = format!(
        "Package: linux-image-{release}\nVersion: {release}\nArchitecture: amd64\n\
         Maintainer: rig <rig@localhost>\nDescription: kernel {release} packed by the rig from {}\n",
        p.source.display()
    );
    std::fs::write(stage.join("DEBIAN/control"), control)?;
    let deb = out_dir.join(format!("linux-image-{release}_{release}_amd64.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zgzip", "-z1"])
        .arg(stage)
        .arg(&deb)
        .output()
        .context("running dpkg-deb --build")?;
    if !out.status.success() {
        bail!("packing {}: {}", p.source.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(deb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_order_lists_ko_or_o_files() {
        assert_eq!(
            modules_in_order("drivers/net/virtio_net.ko\nkernel/rcu/rcutorture.ko\n\narch/x86/kvm/kvm-amd.o\n"),
            ["drivers/net/virtio_net.ko", "kernel/rcu/rcutorture.ko", "arch/x86/kvm/kvm-amd.ko"]
        );
    }

    #[test]
    fn the_release_is_read_from_the_banner() {
        let image = b"\0\0junk Linux version 6.1.0-42-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP\0";
        assert_eq!(release_in_banner(image).as_deref(), Some("6.1.0-42-amd64"));
        assert_eq!(release_in_banner(b"no banner here"), None);
        let mut bz = vec![0u8; 0x400];
        bz[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        bz[0x300..0x300 + 24].copy_from_slice(b"6.1.99-mine (me@here) #1");
        assert_eq!(release_in_setup_header(&bz).as_deref(), Some("6.1.99-mine"));
        assert_eq!(release_in_setup_header(&[0u8; 0x100]), None);
    }

    #[test]
    fn a_built_in_configuration_is_read() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"CONFIG_PVH=y\n").unwrap();
        let mut elf = b"\x7fELF....IKCFG_ST".to_vec();
        elf.extend(gz.finish().unwrap());
        elf.extend(b"IKCFG_ED");
        assert_eq!(ikconfig(&elf).as_deref(), Some("CONFIG_PVH=y\n"));
        assert_eq!(ikconfig(b"\x7fELF without one"), None);
    }
}
