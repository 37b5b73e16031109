//! `cargo xtask image coal --from <coal tarball | .vmwarevm | usb.img> [--platform <platform.tgz>]`:
//! prepares a coal headnode image under the build directory. Thin: parse, call
//! `rig::coal::prepare`, print where it went.
//!
//! `cargo xtask image coal-stand-in`: builds the coal stand-in test fixture
//! (`rig::coal::stand_in`) and prints its coal tarball and platform tarballs.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `cargo xtask image`.
#[derive(Args, Debug)]
pub struct ImageArgs {
    /// `list` (every image built or prepared), `prune` (remove builds no command would use
    /// again), `linux --kernel PATH --name NAME` (your own kernel as image `linux-NAME`; with
    /// `linux-os7410-debug` or another Linux image instead of `linux`, built like that one and
    /// named `<image>-NAME`), `coal` (a
    /// SmartOS Triton headnode, prepared from user input) or `coal-stand-in` (builds the test
    /// fixture that imitates one: a coal tarball and two DEBUG platform tarballs).
    pub name: String,
    /// With `linux`: a Debian kernel package (`linux-image-<release>_*.deb`, from the archive or
    /// `make bindeb-pkg`), a built kernel tree (the directory holding .config, bzImage and the
    /// built modules), or a bare bzImage or vmlinux (with --config and --modules), to boot with
    /// the default guest's userland. Never modified.
    #[arg(long, value_name = "DEB|TREE|IMAGE", required_if_eq("name", "linux"))]
    pub kernel: Option<PathBuf>,
    /// With `--kernel`: the image is called `linux-NAME`.
    #[arg(long = "name", value_name = "NAME", requires = "kernel", required_if_eq("name", "linux"))]
    pub as_name: Option<String>,
    /// With a bare `--kernel bzImage|vmlinux`: its `.config` (else the one built into it with
    /// CONFIG_IKCONFIG).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    pub config: Option<PathBuf>,
    /// With a bare `--kernel bzImage|vmlinux`: its modules as `make modules_install
    /// INSTALL_MOD_PATH=DIR` left them (DIR, or DIR/lib/modules/<release>).
    #[arg(long, value_name = "DIR", requires = "kernel")]
    pub modules: Option<PathBuf>,
    /// A coal tarball of any era (coal-<stamp>-4gb.tgz, coal-latest.tgz), its .vmwarevm directory, or a raw
    /// SmartOS/coal USB image (4gb.img, 8gb.img). Never modified.
    #[arg(long, value_name = "PATH", required_if_eq("name", "coal"))]
    pub from: Option<PathBuf>,
    /// A SmartOS platform tarball (platform-<PI>.tgz, e.g. a DEBUG build) to add and boot.
    #[arg(long, value_name = "PATH")]
    pub platform: Option<PathBuf>,
}

/// Prepares the image; prints its directory, platform and how to run it.
pub fn run(args: &ImageArgs) -> Result<i32> {
    match (args.name.as_str(), &args.from) {
        ("list" | "prune", _) if args.from.is_some() || args.platform.is_some() || args.as_name.is_some() => {
            bail!("cargo xtask image {} takes no other option", args.name)
        }
        ("list", None) => list(),
        ("prune", None) => prune(),
        ("linux", None) => match (&args.kernel, &args.as_name) {
            (Some(deb), Some(name)) => user_kernel("linux", deb, name, args),
            _ => bail!("cargo xtask image linux needs --kernel <linux-image-*.deb | kernel tree> --name NAME"),
        },
        (recipe, None) if args.kernel.is_some() => match (&args.kernel, &args.as_name) {
            (Some(deb), Some(name)) => user_kernel(recipe, deb, name, args),
            _ => bail!("cargo xtask image {recipe} --kernel needs --name NAME"),
        },
        ("coal", Some(from)) => prepare_coal(from, args),
        ("coal-stand-in", None) if args.platform.is_none() => stand_in(),
        ("coal-stand-in", _) => bail!("cargo xtask image coal-stand-in takes no --from or --platform: it builds both"),
        ("coal", None) => bail!("cargo xtask image coal needs --from <coal tarball | .vmwarevm directory | usb.img>"),
        (other, _) => bail!(
            "cargo xtask image: unknown image '{other}'; 'coal' is prepared from a user's file, 'coal-stand-in' \
             builds the coal test fixture (the Linux images build themselves)"
        ),
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// One line per image under the build directory.
fn list() -> Result<i32> {
    let build = crate::paths::build_dir();
    let all = rig::guest_os::inventory::list(&build);
    if all.is_empty() {
        outln!("no images in {} yet (the rig builds the Linux ones it needs)", build.join("images").display());
        return Ok(0);
    }
    outln!("{:<24} {:<12} {:<28} {:<18} {:>7} {:>10}", "IMAGE", "KIND", "KERNEL/PLATFORM", "BUILD", "AGE", "MIB");
    for e in &all {
        outln!(
            "{:<24} {:<12} {:<28} {:<18} {:>7} {:>10.0}",
            e.name,
            e.kind.as_str(),
            e.detail,
            e.key,
            e.age(),
            e.bytes as f64 / MIB
        );
    }
    outln!("in {}", build.join("images").display());
    Ok(0)
}

/// Removes what no command would use again and says what went.
fn prune() -> Result<i32> {
    let build = crate::paths::build_dir();
    let gone = rig::guest_os::inventory::prune(&build)?;
    let freed: u64 = gone.iter().map(|e| e.bytes).sum();
    for e in &gone {
        outln!("removed {} ({}, {}): {}", e.path.display(), e.name, e.kind.as_str(), e.age());
    }
    outln!(
        "{} removed, {:.0} MiB freed; prepared coal images are kept (remove them by hand)",
        gone.len(),
        freed as f64 / MIB
    );
    Ok(0)
}

/// Registers the user's kernel package, builds its image and says how to use it.
fn user_kernel(recipe: &str, kernel: &std::path::Path, name: &str, args: &ImageArgs) -> Result<i32> {
    let build = crate::paths::build_dir();
    eprintln!("checking {} (only read)...", kernel.display());
    let input = rig::image::user_kernel::KernelInput {
        path: kernel,
        config: args.config.as_deref(),
        modules: args.modules.as_deref(),
    };
    let k = rig::image::user_kernel::register(&build, recipe, name, input)?;
    for d in &k.degraded {
        eprintln!("warning: {d}");
    }
    eprintln!("building image {} with kernel {}...", k.name, k.kernel_release);
    let img = rig::image::ensure_image(&build, &k.name)?;
    for n in &img.module_notes {
        eprintln!("note: module {n} in this kernel");
    }
    outln!("image {}: kernel {} ({} {})", img.name, img.kernel_release, k.package.name, k.package.version);
    outln!("  directory: {}", img.dir.display());
    outln!("next: cargo xtask rig --image {} --cpu epyc --case boot-smoke", img.name);
    outln!("      cargo xtask rig --compare linux,{} --cpu epyc --case <case>", img.name);
    Ok(0)
}

/// Builds the coal stand-in and prints its three files.
fn stand_in() -> Result<i32> {
    eprintln!("building the coal stand-in (a test fixture imitating a coal headnode)...");
    let s = rig::coal::stand_in::ensure_stand_in(&crate::paths::build_dir())?;
    outln!("coal tarball:           {}", s.tarball.display());
    outln!("DEBUG platform (buggy): {}", s.debug_buggy_platform.display());
    outln!("DEBUG platform (fixed): {}", s.debug_fixed_platform.display());
    outln!(
        "next: cargo xtask image coal --from {} --platform {}",
        s.tarball.display(),
        s.debug_buggy_platform.display()
    );
    Ok(0)
}

fn prepare_coal(from: &std::path::Path, args: &ImageArgs) -> Result<i32> {
    let opts = rig::coal::PrepareOptions::new(from.to_path_buf(), args.platform.clone(), crate::paths::build_dir());
    eprintln!("preparing coal from {} (the input is only read)...", from.display());
    let img = rig::coal::prepare(&opts)?;
    outln!("coal image: {}", img.dir.display());
    outln!("  boot disk:   {} (overlay on {})", img.usb.display(), img.usb_base.display());
    outln!("  zpool disk:  {}", img.zpool.display());
    outln!("  platform:    {}", img.platform);
    if let Some(key) = &img.manifest.key {
        outln!("  key:         {} (edited: /{})", key.describe(), key.boot.path());
    }
    if args.platform.is_some()
        && let Some(w) = rig::coal::age::platform_age_warning(&img.platform, &img.manifest.platforms_on_image)
    {
        eprintln!("warning: {w}");
    }
    outln!("  client key:  {}", img.client_key.display());
    outln!("  admin NIC {} / external NIC {}", img.admin_mac, img.external_mac);
    let name = img.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    outln!("next: cargo xtask rig --image coal --cpu epyc --case os-7410-vmm-zsd");
    outln!("      (`--image coal` is the newest prepared headnode; `--image {name}` is this one)");
    Ok(0)
}
