//! `cargo xtask image linux --kernel PATH --name NAME`: the user's own kernel (a Debian
//! package, a built tree or a bare kernel) as an image booted with a Linux image's userland.

use anyhow::{Result, bail};

use crate::guest_os::linux::image::user_kernel::{KernelInput, register};
use crate::guest_os::{ImageInput, Stage};

/// Whether `recipe` with `input` is the user's kernel: `linux`, or any Linux image given a
/// kernel to be built like (`linux-os7410-debug --kernel ...`).
pub(super) fn takes(input: &ImageInput) -> bool {
    input.recipe == "linux" || (input.kernel.is_some() && input.from.is_none())
}

/// Registers the user's kernel, builds its image and says where it went and how to use it.
pub(super) fn user_kernel(input: &ImageInput, say: Stage<'_>) -> Result<Vec<String>> {
    let (build, recipe) = (input.build_dir.as_path(), input.recipe.as_str());
    if input.from.is_some() {
        bail!("cargo xtask image {recipe} takes no --from: it builds a kernel given with --kernel");
    }
    let (Some(kernel), Some(name)) = (&input.kernel, &input.name) else {
        if recipe == "linux" {
            bail!("cargo xtask image linux needs --kernel <linux-image-*.deb | kernel tree> --name NAME");
        }
        bail!("cargo xtask image {recipe} --kernel needs --name NAME");
    };
    say(format!("checking {} (only read)...", kernel.display()));
    let input = KernelInput { path: kernel, config: input.config.as_deref(), modules: input.modules.as_deref() };
    let k = register(build, recipe, name, input)?;
    for d in &k.degraded {
        say(format!("warning: {d}"));
    }
    say(format!("building image {} with kernel {}...", k.name, k.kernel_release));
    let img = crate::guest_os::linux::image::ensure_image(build, &k.name)?;
    for n in &img.module_notes {
        say(format!("note: module {n} in this kernel"));
    }
    Ok(vec![
        format!("image {}: kernel {} ({} {})", img.name, img.kernel_release, k.package.name, k.package.version),
        format!("  directory: {}", img.dir.display()),
        format!("next: cargo xtask rig --image {} --cpu epyc --case boot-smoke", img.name),
        format!("      cargo xtask rig --compare linux,{} --cpu epyc --case <case>", img.name),
    ])
}
