//! One image build in a temporary directory: recipe files, keys, build.sh, kernel, initramfs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::cache::{self, CLIENT_KEY, HOST_KEY, INITRD, KERNEL, MANIFEST, Manifest};
use super::packages::Package;
use super::recipe::Recipe;
use super::unpack::{self, KernelPaths};
use super::{cpio, keys, vmlinux};

/// What to build: image `name` from `recipe` and `packages` (with their .debs at `debs`, same
/// order), whose kernel package holds `kernel_release`.
pub struct Job<'a> {
    pub name: &'a str,
    pub recipe: &'a Recipe,
    pub packages: &'a [Package],
    pub debs: &'a [PathBuf],
    pub kernel_release: &'a str,
    /// A user's kernel: listed modules it builds in or lacks are skipped, dependencies copied.
    pub user_kernel: bool,
}

/// Builds a job into `work`, which ends up holding exactly the files of a published image.
pub fn build(job: &Job, work: &Path, key: &str) -> Result<Manifest> {
    let started = Instant::now();
    let Job { recipe, packages, debs, kernel_release, .. } = *job;

    let recipe_dir = work.join("recipe");
    std::fs::create_dir_all(&recipe_dir).with_context(|| format!("creating {}", recipe_dir.display()))?;
    for f in recipe.files() {
        let path = recipe_dir.join(f.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, f.contents)?;
    }
    keys::generate_client_key(&work.join(CLIENT_KEY), &format!("rig@{}-{key}", job.name))?;

    tracing::info!(image = job.name, kernel = kernel_release, "unpacking the packages");
    let modules = recipe.files().find(|f| f.name == "modules").map(|f| f.contents).unwrap_or("");
    let kernel = KernelPaths::new(kernel_release, modules, job.user_kernel);
    unpack::unpack(debs, packages, &kernel, &work.join("pkg"), Some(&work.join("headers")))?;

    tracing::info!(image = job.name, kernel = kernel_release, "assembling the guest tree");
    let mut cmd = Command::new("sh");
    cmd.arg(recipe_dir.join("build.sh")).arg(work).arg(kernel_release);
    if job.user_kernel {
        cmd.env("RIG_USER_KERNEL", "1");
    }
    run_script(cmd, "build.sh", recipe, work)?;

    for hook in recipe.hooks {
        tracing::info!(image = recipe.name, hook = hook.script, args = ?hook.args, "running a build hook");
        let mut cmd = Command::new("sh");
        cmd.arg(recipe_dir.join(hook.script)).arg(work).arg(kernel_release).args(hook.args);
        run_script(cmd, hook.script, recipe, work)?;
    }

    let vmlinuz = std::fs::read(work.join("vmlinuz")).context("reading vmlinuz")?;
    // A user's kernel may be an ELF vmlinux already; a bzImage holds one XZ-compressed.
    let elf = if vmlinuz.starts_with(b"\x7fELF") {
        vmlinuz
    } else {
        vmlinux::extract_elf(&vmlinuz).context("extracting the kernel ELF from vmlinuz")?
    };
    std::fs::write(work.join(KERNEL), elf)?;
    cpio::write_gz(&work.join("root"), cpio::DEV_NODES, &work.join(INITRD))?;

    for scratch in ["root", "pkg", "headers"] {
        let dir = work.join(scratch);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {scratch}/"))?;
        }
    }
    std::fs::remove_file(work.join("vmlinuz"))?;
    let notes = work.join("module-notes");
    let module_notes: Vec<String> =
        std::fs::read_to_string(&notes).unwrap_or_default().lines().map(str::to_string).collect();
    if notes.exists() {
        std::fs::remove_file(&notes)?;
    }
    if !work.join(HOST_KEY).is_file() {
        bail!("build.sh made no {HOST_KEY}");
    }

    let manifest = Manifest {
        name: job.name.to_string(),
        key: key.to_string(),
        kernel_release: kernel_release.to_string(),
        cmdline: recipe.cmdline(),
        packages: packages.to_vec(),
        recipe_files: cache::recipe_hashes(recipe),
        built_at_unix: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        build_seconds: started.elapsed().as_secs_f64(),
        built_from: None,
        module_notes,
        artifacts: Default::default(),
    };
    std::fs::write(work.join(MANIFEST), serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(manifest)
}

/// Runs a recipe script; on failure the error carries its stderr and keeps `work` for a look.
fn run_script(mut cmd: Command, script: &str, recipe: &Recipe, work: &Path) -> Result<()> {
    let out = super::script::output(&mut cmd).with_context(|| format!("running {script}"))?;
    if !out.status.success() {
        bail!(
            "{script} of image {} failed ({}); work directory kept at {}:\n{}",
            recipe.name,
            out.status,
            work.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
