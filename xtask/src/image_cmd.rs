//! `cargo xtask image RECIPE`: makes a guest image from the user's files by the guest OS whose
//! recipe it is (`rig::guest_os::make_image`: your kernel, a prepared headnode, the stand-in
//! fixture), or lists and prunes the images built so far. Thin: parse, call, print.

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
    #[arg(long, value_name = "DEB|TREE|IMAGE")]
    pub kernel: Option<PathBuf>,
    /// With `--kernel`: the image is called `linux-NAME`.
    #[arg(long = "name", value_name = "NAME", requires = "kernel")]
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
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    /// A SmartOS platform tarball (platform-<PI>.tgz, e.g. a DEBUG build) to add and boot.
    #[arg(long, value_name = "PATH")]
    pub platform: Option<PathBuf>,
}

/// Lists, prunes, or makes the image by the guest OS whose recipe it is; prints what it made.
pub fn run(args: &ImageArgs) -> Result<i32> {
    match args.name.as_str() {
        "list" | "prune" if args.from.is_some() || args.platform.is_some() || args.as_name.is_some() => {
            bail!("cargo xtask image {} takes no other option", args.name)
        }
        "list" => list(),
        "prune" => prune(),
        recipe => {
            let input = rig::guest_os::ImageInput {
                recipe: recipe.to_string(),
                build_dir: crate::paths::build_dir(),
                kernel: args.kernel.clone(),
                name: args.as_name.clone(),
                config: args.config.clone(),
                modules: args.modules.clone(),
                from: args.from.clone(),
                platform: args.platform.clone(),
            };
            let say = |line: String| eprintln!("{line}");
            let made = rig::guest_os::make_image(&input, &say)?;
            for line in made {
                outln!("{line}");
            }
            Ok(0)
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// One line per image under the build directory.
fn list() -> Result<i32> {
    let build = crate::paths::build_dir();
    let all = rig::guest_os::inventory::list(&build);
    if all.is_empty() {
        outln!("no images in {} yet (the rig builds the ones it needs)", build.join("images").display());
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
        "{} removed, {:.0} MiB freed; images prepared from your files are kept (remove them by hand)",
        gone.len(),
        freed as f64 / MIB
    );
    Ok(0)
}
