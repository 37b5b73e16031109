//! `cargo xtask image coal --from <coal tarball | .vmwarevm | usb.img> [--platform <platform.tgz>]`
//! prepares a coal headnode image under the build directory; `cargo xtask image coal-stand-in`
//! builds the coal stand-in test fixture and says where its tarballs went.

use std::path::Path;

use anyhow::Result;

use crate::guest_os::illumos::coal::{PrepareOptions, age, prepare, stand_in};
use crate::guest_os::{ImageInput, Stage};

/// Makes `recipe` (`coal`, `coal-stand-in`) when it is one of illumos's.
pub(super) fn make(input: &ImageInput, say: Stage<'_>) -> Option<Result<Vec<String>>> {
    let build = input.build_dir.as_path();
    match input.recipe.as_str() {
        "coal" => Some(match &input.from {
            Some(from) => prepare_coal(build, from, input, say),
            None => Err(anyhow::anyhow!(
                "cargo xtask image coal needs --from <coal tarball | .vmwarevm directory | usb.img>"
            )),
        }),
        "coal-stand-in" if input.from.is_some() || input.platform.is_some() => {
            Some(Err(anyhow::anyhow!("cargo xtask image coal-stand-in takes no --from or --platform: it builds both")))
        }
        "coal-stand-in" => Some(build_stand_in(build, say)),
        _ => None,
    }
}

/// Builds the coal stand-in and says where its files went.
fn build_stand_in(build: &Path, say: Stage<'_>) -> Result<Vec<String>> {
    say("building the coal stand-in (a test fixture imitating a coal headnode)...".into());
    let s = stand_in::ensure_stand_in(build)?;
    Ok(vec![
        format!("coal tarball (loader era, GPT): {}", s.tarball.display()),
        format!("coal tarball (GRUB era, MBR):   {}", s.grub_tarball.display()),
        format!("DEBUG platform (buggy, 2018):   {}", s.debug_buggy_platform.display()),
        format!("DEBUG platform (fixed, 2018):   {}", s.debug_fixed_platform.display()),
        // A 2018 platform mounts only a GRUB-era key (the rig refuses the loader-era one with it).
        format!(
            "next: cargo xtask image coal --from {} --platform {}",
            s.grub_tarball.display(),
            s.debug_buggy_platform.display()
        ),
    ])
}

/// Prepares a headnode from the user's file and says where it went and how to run it.
fn prepare_coal(build: &Path, from: &Path, input: &ImageInput, say: Stage<'_>) -> Result<Vec<String>> {
    let opts = PrepareOptions::new(from.to_path_buf(), input.platform.clone(), build.to_path_buf());
    say(format!("preparing coal from {} (the input is only read)...", from.display()));
    let img = prepare(&opts)?;
    let mut out = vec![
        format!("coal image: {}", img.dir.display()),
        format!("  boot disk:   {} (overlay on {})", img.usb.display(), img.usb_base.display()),
        format!("  zpool disk:  {}", img.zpool.display()),
        format!("  platform:    {}", img.platform),
    ];
    if let Some(key) = &img.manifest.key {
        out.push(format!("  key:         {} (edited: /{})", key.describe(), key.boot.path()));
    }
    if input.platform.is_some()
        && let Some(w) = age::platform_age_warning(&img.platform, &img.manifest.platforms_on_image)
    {
        say(format!("warning: {w}"));
    }
    out.push(format!("  client key:  {}", img.client_key.display()));
    out.push(format!("  admin NIC {} / external NIC {}", img.admin_mac, img.external_mac));
    let name = img.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    out.push("next: cargo xtask rig --image coal --cpu epyc --case os-7410-vmm-zsd".into());
    out.push(format!("      (`--image coal` is the newest prepared headnode; `--image {name}` is this one)"));
    Ok(out)
}
