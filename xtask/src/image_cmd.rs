//! `cargo xtask image coal --from <coal-latest.tgz | usb.img> [--platform <platform.tgz>]`:
//! prepares a coal headnode image under the build directory. Thin: parse, call
//! `rig::coal::prepare`, print where it went.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

/// Arguments of `cargo xtask image`.
#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The image to prepare; only `coal` (a SmartOS Triton headnode) is prepared from user input.
    pub name: String,
    /// The coal tarball (coal-latest.tgz) or a raw SmartOS/coal USB image (*-8gb.img). Never modified.
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// A SmartOS platform tarball (platform-<PI>.tgz, e.g. a DEBUG build) to add and boot.
    #[arg(long, value_name = "PATH")]
    pub platform: Option<PathBuf>,
}

/// Prepares the image; prints its directory, platform and how to run it.
pub fn run(args: &ImageArgs) -> Result<i32> {
    if args.name != "coal" {
        bail!(
            "cargo xtask image: unknown image '{}'; only 'coal' is prepared from a user's file (the Linux images build themselves)",
            args.name
        );
    }
    let opts = rig::coal::PrepareOptions::new(args.from.clone(), args.platform.clone(), crate::paths::build_dir());
    eprintln!("preparing coal from {} (the input is only read)...", args.from.display());
    let img = rig::coal::prepare(&opts)?;
    println!("coal image: {}", img.dir.display());
    println!("  boot disk:   {} (overlay on {})", img.usb.display(), img.usb_base.display());
    println!("  zpool disk:  {}", img.zpool.display());
    println!("  platform:    {}", img.platform);
    println!("  client key:  {}", img.client_key.display());
    println!("  admin NIC {} / external NIC {}", img.admin_mac, img.external_mac);
    println!("next: cargo xtask rig --image coal --cpu epyc --case os-7410-vmm-zsd");
    Ok(0)
}
