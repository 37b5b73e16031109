//! What building an image takes now: its recipe, the exact Debian packages apt offers (the
//! user's kernel package in place of the archive's for a user kernel), and the cache key
//! they make. Building and pruning both start here.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::packages::{self, Package};
use super::recipe::Recipe;
use super::user_kernel::{self, UserKernel};
use super::{cache, known_images};

/// The inputs of one image build.
pub struct Plan {
    /// The recipe (`linux` for a user kernel).
    pub recipe: &'static Recipe,
    /// The packages, kernel included.
    pub packages: Vec<Package>,
    /// Where the kernel package is in `packages`.
    pub kernel_idx: usize,
    /// The cache key: the image lives in `<build>/images/<name>-<key>/`.
    pub key: String,
    /// The user's kernel, for a user image.
    pub user: Option<UserKernel>,
    /// The plan of the image this one is built from ([`Recipe::built_from`]); its packages are
    /// this one's.
    pub built_from: Option<Box<Plan>>,
}

/// The plan for image `name`: a built-in one, or a registered user kernel.
pub fn plan(build_dir: &Path, name: &str) -> Result<Plan> {
    let (recipe, user) = match Recipe::find(name) {
        Some(r) => (r, None),
        None => match user_kernel::load(build_dir, name)? {
            Some(k) => {
                let r = Recipe::find(&k.recipe).with_context(|| {
                    format!("{name}: registered to be built like image {}, which is gone", k.recipe)
                })?;
                (r, Some(k))
            }
            None => {
                let mut known: Vec<String> = known_images().iter().map(|s| s.to_string()).collect();
                known.extend(user_kernel::registered(build_dir));
                bail!(
                    "unknown image {name:?}; known images: {}. Your own kernel becomes an image with \
                     `cargo xtask image linux --kernel <linux-image-*.deb> --name NAME` (then `--image linux-NAME`)",
                    known.join(", ")
                )
            }
        },
    };
    if let Some(from) = recipe.built_from {
        if user.is_some() {
            bail!("{name}: a user kernel cannot be built like {}, which is {from}'s build: use {from}", recipe.name);
        }
        let base = plan(build_dir, from).with_context(|| format!("image {name} is built from {from}"))?;
        let key = cache::derived_key(recipe, &base.key);
        let (packages, kernel_idx) = (base.packages.clone(), base.kernel_idx);
        return Ok(Plan { recipe, packages, kernel_idx, key, user: None, built_from: Some(Box::new(base)) });
    }
    packages::check_host_tools()?;
    let packages_file = recipe.file("packages").context("recipe has no packages file")?;
    let mut pkgs = packages::resolve(packages_file).context("resolving the image's Debian packages")?;
    let kernel_idx = pkgs.iter().position(|p| p.kernel).context("no kernel package")?;
    if let Some(k) = &user {
        pkgs[kernel_idx] = k.package.clone();
    }
    if recipe.kernel_headers {
        let release = match &user {
            // Its package may be named otherwise (`linux-image-<release>-unsigned`).
            Some(k) => k.kernel_release.clone(),
            None => pkgs[kernel_idx].kernel_release().context("no kernel package")?.to_string(),
        };
        let why = match &user {
            Some(_) => format!(
                " (image {} compiles modules against them: a kernel that is not from the archive has none there)",
                recipe.name
            ),
            None => String::new(),
        };
        let (headers, compiler) = packages::resolve_headers(&release)
            .with_context(|| format!("resolving the headers of kernel {release}{why}"))?;
        packages::check_build_tools(compiler.as_deref())?;
        pkgs.extend(headers);
    }
    let key = cache::cache_key(recipe, &pkgs);
    Ok(Plan { recipe, packages: pkgs, kernel_idx, key, user, built_from: None })
}
