//! The user's own Linux kernel as a named image: a Debian kernel package (from the archive,
//! or made by `make bindeb-pkg`) or a built tree or a bare kernel image (packed into one by [`super::kernel_pack`])
//! becomes `linux-<name>`, the default guest's userland with
//! that kernel and its modules, which every command takes like a built-in image.
//!
//! Registering reads the package (its name, architecture, release and `.config`), refuses a
//! kernel the rig cannot boot before any boot, keeps a copy of the package under
//! `<build>/user-kernels/` (the user's file may move or change; the image must not) and writes
//! `<build>/user-kernels/<name>.json`. The image itself is built and cached like the others,
//! keyed by the package's SHA256.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use super::kconfig::{self, ConfigCheck};
use super::packages::{Package, sha256_file};

/// Where registrations and package copies live, under the build directory.
pub const DIR: &str = "user-kernels";

/// A registered user kernel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserKernel {
    /// The image name (`linux-<name>`).
    pub name: String,
    /// The file the user gave.
    pub source: PathBuf,
    /// The package, as the image's kernel package.
    pub package: Package,
    /// Its kernel release (`uname -r`), from the `/boot/vmlinuz-<release>` it holds.
    pub kernel_release: String,
    /// What its configuration lacks for some features (said at registration).
    pub degraded: Vec<String>,
    /// The built-in image it is built like (`linux`; `linux-os7410-debug` adds the OS-7410
    /// fixture modules, compiled against the kernel's headers from the archive).
    #[serde(default = "default_recipe")]
    pub recipe: String,
}

fn default_recipe() -> String {
    "linux".into()
}

impl UserKernel {
    /// The rig's copy of the package.
    pub fn deb(&self, build_dir: &Path) -> PathBuf {
        build_dir.join(DIR).join(format!("{}.deb", self.package.sha256))
    }

    /// The rig's copy of the kernel's debug vmlinux (a tree's `vmlinux`), if it has one.
    pub fn debug_vmlinux(&self, build_dir: &Path) -> Option<PathBuf> {
        let p = build_dir.join(DIR).join(format!("{}.vmlinux", self.package.sha256));
        p.is_file().then_some(p)
    }
}

/// The image name for `--name NAME` of a kernel built like `recipe`: `<recipe>-NAME`
/// (`linux-NAME`), refused when NAME is not a plain name or a built-in image has it.
pub fn image_name(recipe: &str, name: &str) -> Result<String> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with(['.', '-']);
    ensure!(plain, "--name {name:?}: use 1 to 64 of a-z, 0-9, '.', '_' and '-', not starting with '.' or '-'");
    let full = format!("{recipe}-{name}");
    ensure!(
        super::recipe::Recipe::find(&full).is_none(),
        "--name {name}: {full} is a built-in image; choose another name"
    );
    Ok(full)
}

/// The kernel release of the package's `./boot/vmlinuz-<release>`, from a listing of its paths (one a line, the path last).
pub fn release_in_listing(listing: &str) -> Option<String> {
    listing.lines().filter_map(|l| l.split_whitespace().last()).find_map(|p| {
        let r = p.strip_prefix("./boot/vmlinuz-")?;
        (!r.is_empty() && !r.contains('/')).then(|| r.to_string())
    })
}

/// Reads a kernel package: name, version, architecture, release, configuration. Errors say
/// what the file is instead, before anything is built or booted.
pub fn inspect_deb(path: &Path) -> Result<(Package, String, ConfigCheck)> {
    ensure!(path.is_file(), "{} is not a file", path.display());
    let fields = super::deb::control(path)?;
    let field = |f: &str| super::deb::field(&fields, f);
    let name = field("Package").with_context(|| format!("{}: no Package field", path.display()))?;
    let arch = field("Architecture").unwrap_or_default();
    ensure!(
        arch == "amd64",
        "{} is a package for {arch:?}; the rig boots x86-64 guests and needs an amd64 kernel",
        path.display()
    );
    let listing = super::deb::list(path)?.join("\n");
    let release = release_in_listing(&listing).with_context(|| {
        format!(
            "{} ({name}) holds no /boot/vmlinuz-<release>: it is not a kernel image package \
             (a meta package such as linux-image-amd64 only depends on one: download that one)",
            path.display()
        )
    })?;
    let config_path = format!("./boot/config-{release}");
    let config = extract_file(path, &config_path).with_context(|| {
        format!("{} holds no {config_path}: the rig checks a kernel's configuration before it boots it", path.display())
    })?;
    // An ELF kernel (a bare vmlinux, packed) is booted as it is: no decompression to check.
    let elf = super::deb::extract_member(path, &format!("./boot/vmlinuz-{release}"), None)?.starts_with(b"\x7fELF");
    let check = kconfig::check(&config, elf);
    let package = Package {
        name,
        version: field("Version").unwrap_or_default(),
        architecture: arch,
        sha256: sha256_file(path).with_context(|| format!("reading {}", path.display()))?,
        kernel: true,
        build_only: false,
    };
    Ok((package, release, check))
}

/// One file of a package's data archive, as text; an empty one counts as missing.
fn extract_file(deb: &Path, member: &str) -> Result<String> {
    let bytes = super::deb::extract_member(deb, member, None)?;
    ensure!(!bytes.is_empty(), "{member} is empty");
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What the user gave as the kernel: a Debian kernel package, a built tree, or a bare
/// `bzImage`/`vmlinux` with its configuration and installed modules.
#[derive(Debug, Clone, Copy)]
pub struct KernelInput<'a> {
    /// The package, tree or kernel image.
    pub path: &'a Path,
    /// A bare kernel's `.config` (else the one built into it, `CONFIG_IKCONFIG`).
    pub config: Option<&'a Path>,
    /// A bare kernel's installed modules (`lib/modules/<release>` as `make modules_install` left it).
    pub modules: Option<&'a Path>,
}

impl<'a> KernelInput<'a> {
    /// Just a path (a package or a tree).
    pub fn path(path: &'a Path) -> KernelInput<'a> {
        KernelInput { path, config: None, modules: None }
    }
}

/// Registers a kernel as image `<recipe>-<name>`: a package as it is; a tree or a bare kernel
/// packed into one first (see [`super::kernel_pack`]). Checks it, copies the package (and the
/// ELF vmlinux with the kernel's symbols, when there is one), records it. Registering the
/// same name again replaces the earlier kernel.
pub fn register(build_dir: &Path, recipe: &str, name: &str, input: KernelInput) -> Result<UserKernel> {
    ensure!(
        recipe.starts_with("linux") && super::recipe::Recipe::find(recipe).is_some(),
        "image {recipe:?}: a kernel can be built like {}",
        super::known_images().join(", ")
    );
    if let Some(from) = super::recipe::Recipe::find(recipe).and_then(|r| r.built_from) {
        bail!("image {recipe} is {from}'s build booted with other kernel arguments: build your kernel like {from}");
    }
    let image = image_name(recipe, name)?;
    given_path("--kernel", input.path, true)?;
    for (flag, path, dir_ok) in [("--config", input.config, false), ("--modules", input.modules, true)] {
        if let Some(p) = path {
            given_path(flag, p, dir_ok)?;
        }
    }
    let dir = build_dir.join(DIR);
    crate::rundir::private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let kernel = input.path;
    let bare = if kernel.is_dir() { None } else { bare_kernel(kernel) };
    let parts = match (kernel.is_dir(), bare) {
        (true, _) => Some((super::kernel_pack::from_tree(kernel)?, kernel.join("vmlinux"))),
        (false, Some(_)) => {
            let parts = super::kernel_pack::from_bare(kernel, input.config, input.modules)?;
            Some((parts, kernel.to_path_buf()))
        }
        (false, None) => None,
    };
    ensure!(
        bare.is_some() || (input.config.is_none() && input.modules.is_none()),
        "--config and --modules go with a bare bzImage or vmlinux; a package or a tree carries its own"
    );
    let Some((parts, symbols)) = parts else {
        return register_deb(build_dir, recipe, image, kernel, kernel);
    };
    let tmp = dir.join(format!(".tmp-pack-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let registered =
        super::kernel_pack::pack(&parts, &tmp).and_then(|deb| register_deb(build_dir, recipe, image, &deb, kernel));
    let _ = std::fs::remove_dir_all(&tmp);
    let k = registered?;
    // An ELF vmlinux (a tree's, or the one given) carries the symbols `crash` needs for this
    // kernel's dumps.
    if bare_kernel(&symbols) == Some(ELF) {
        let copy = dir.join(format!("{}.vmlinux", k.package.sha256));
        let part = dir.join(format!(".tmp-{}.vmlinux", k.package.sha256));
        std::fs::copy(&symbols, &part).with_context(|| format!("copying {}", symbols.display()))?;
        std::fs::rename(&part, &copy)?;
    }
    Ok(k)
}

/// Refuses a path that exists but is neither a regular file nor (when `dir_ok`) a directory,
/// before it is opened: reading a FIFO would wait for a writer forever. A missing path is
/// said where it is read.
fn given_path(flag: &str, path: &Path, dir_ok: bool) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.is_file() || (dir_ok && meta.is_dir()) {
        return Ok(());
    }
    bail!(
        "{flag} {}: is {}, not a regular file{}",
        path.display(),
        crate::file_kind::describe(&meta),
        if dir_ok { " or a directory" } else { "" }
    )
}

const ELF: &str = "vmlinux (ELF)";

/// What a bare kernel image file is (`bzImage`: "HdrS" at 0x202; `vmlinux`: ELF), if it is one.
fn bare_kernel(path: &Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 0x206];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).ok()?;
    if n >= 0x206 && &head[0x202..0x206] == b"HdrS" {
        Some("bzImage")
    } else if n >= 4 && &head[..4] == b"\x7fELF" {
        Some(ELF)
    } else {
        None
    }
}

fn register_deb(build_dir: &Path, recipe: &str, image: String, deb: &Path, source: &Path) -> Result<UserKernel> {
    let dir = build_dir.join(DIR);
    let (package, kernel_release, check) = inspect_deb(deb)?;
    if !check.bootable() {
        let list: Vec<String> = check.missing.iter().map(|f| format!("  - {f}")).collect();
        bail!(
            "{} ({}) cannot boot in the rig; its configuration lacks:\n{}",
            source.display(),
            kernel_release,
            list.join("\n")
        );
    }
    let kernel = UserKernel {
        name: image.clone(),
        source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()),
        package,
        kernel_release,
        degraded: check.degraded.iter().map(ToString::to_string).collect(),
        recipe: recipe.to_string(),
    };
    let copy = kernel.deb(build_dir);
    if sha256_file(&copy).ok().as_deref() != Some(kernel.package.sha256.as_str()) {
        let tmp = dir.join(format!(".tmp-{}-{}", kernel.package.sha256, std::process::id()));
        std::fs::copy(deb, &tmp).with_context(|| format!("copying {} to {}", deb.display(), tmp.display()))?;
        let copied = sha256_file(&tmp)?;
        if copied != kernel.package.sha256 {
            let _ = std::fs::remove_file(&tmp);
            bail!("{} changed while it was being read: register it again once it is complete", deb.display());
        }
        std::fs::rename(&tmp, &copy)?;
    }
    let json = serde_json::to_string_pretty(&kernel)? + "\n";
    std::fs::write(dir.join(format!("{image}.json")), json)?;
    Ok(kernel)
}

/// The registered user kernel named `name`, if there is one.
pub fn load(build_dir: &Path, name: &str) -> Result<Option<UserKernel>> {
    let path = build_dir.join(DIR).join(format!("{name}.json"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let k: UserKernel = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        k.deb(build_dir).is_file(),
        "{name}: the rig's copy of its kernel package is gone ({}); register it again with \
         `cargo xtask image linux --kernel {} --name {}`",
        k.deb(build_dir).display(),
        k.source.display(),
        name.trim_start_matches("linux-")
    );
    Ok(Some(k))
}

/// The names of the registered user kernels.
pub fn registered(build_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(build_dir.join(DIR)) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(str::to_string)).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_never_a_built_in_image() {
        assert_eq!(image_name("linux", "mine-6.1.42").unwrap(), "linux-mine-6.1.42");
        assert_eq!(image_name("linux-os7410-debug", "mine").unwrap(), "linux-os7410-debug-mine");
        for bad in ["", "../x", "Mine", "a b", "-x", ".x", "kdump", "os7410-debug"] {
            assert!(image_name("linux", bad).is_err(), "{bad:?}");
        }
        assert!(image_name("linux", "kdump").unwrap_err().to_string().contains("linux-kdump is a built-in image"));
    }

    #[test]
    fn the_release_comes_from_the_packaged_vmlinuz() {
        let listing = "drwxr-xr-x root/root 0 2025-01-01 00:00 ./boot/\n\
            -rw-r--r-- root/root 8 2025-01-01 00:00 ./boot/config-6.1.0-42-amd64\n\
            -rw-r--r-- root/root 9 2025-01-01 00:00 ./boot/vmlinuz-6.1.0-42-amd64\n";
        assert_eq!(release_in_listing(listing).as_deref(), Some("6.1.0-42-amd64"));
        assert_eq!(release_in_listing("-rw-r--r-- root/root 1 2025-01-01 00:00 ./usr/share/doc/x\n"), None);
    }
}
