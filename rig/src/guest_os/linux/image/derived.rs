//! Images built from another image's artifacts ([`super::recipe::Recipe::built_from`]): the
//! same kernel, initramfs and keys, booted with more kernel arguments. Building one compiles
//! nothing: its directory links the base image's files (hard links, a copy across
//! filesystems) and has a manifest of its own, so it has its own name and key in listings,
//! QEMU command lines and reports.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::LinuxImage;
use super::cache::{CLIENT_KEY, HOST_KEY, INITRD, KERNEL, MANIFEST, Manifest};
use super::recipe::Recipe;

/// Fills `work` with `base`'s bootable files and a manifest for image `recipe` under `key`.
pub fn build(recipe: &Recipe, base: &LinuxImage, key: &str, work: &Path) -> Result<Manifest> {
    let started = Instant::now();
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    for f in [KERNEL, INITRD, CLIENT_KEY, HOST_KEY] {
        link_or_copy(&base.dir.join(f), &work.join(f))?;
    }
    let base_manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(&base.manifest).with_context(|| format!("reading {}", base.manifest.display()))?,
    )
    .with_context(|| format!("parsing {}", base.manifest.display()))?;
    let manifest = Manifest {
        name: recipe.name.to_string(),
        key: key.to_string(),
        kernel_release: base_manifest.kernel_release,
        cmdline: recipe.cmdline(),
        packages: base_manifest.packages,
        recipe_files: base_manifest.recipe_files,
        built_at_unix: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        build_seconds: started.elapsed().as_secs_f64(),
        built_from: base.dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        module_notes: base_manifest.module_notes,
        artifacts: Default::default(),
    };
    std::fs::write(work.join(MANIFEST), serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(manifest)
}

/// A hard link of `from` at `to`, or a copy where linking fails (another filesystem).
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_os::linux::image::cache::{self, derived_key};

    #[test]
    fn a_series_image_links_the_debug_build_and_has_a_manifest_of_its_own() {
        let tmp = std::env::temp_dir().join(format!("rig-derived-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let base_dir = tmp.join("linux-os7410-debug-k1");
        std::fs::create_dir_all(&base_dir).unwrap();
        for f in [KERNEL, INITRD, CLIENT_KEY, HOST_KEY] {
            std::fs::write(base_dir.join(f), f).unwrap();
        }
        let debug = Recipe::find("linux-os7410-debug").unwrap();
        let base_manifest = Manifest {
            name: debug.name.into(),
            key: "k1".into(),
            kernel_release: "6.1.0-1-amd64".into(),
            cmdline: debug.cmdline(),
            packages: Vec::new(),
            recipe_files: cache::recipe_hashes(debug),
            built_at_unix: 0,
            build_seconds: 20.0,
            built_from: None,
            module_notes: Vec::new(),
            artifacts: Default::default(),
        };
        std::fs::write(base_dir.join(MANIFEST), serde_json::to_string(&base_manifest).unwrap()).unwrap();
        let base = LinuxImage::new(base_dir.clone(), &base_manifest);

        let b4 = Recipe::find("linux-os7410-b4").unwrap();
        let key = derived_key(b4, "k1");
        let work = tmp.join(format!("linux-os7410-b4-{key}"));
        let m = build(b4, &base, &key, &work).unwrap();
        assert_eq!((m.name.as_str(), m.key.as_str()), ("linux-os7410-b4", key.as_str()));
        assert_eq!(m.cmdline, format!("{} vmm.fixed=0", debug.cmdline()));
        assert_eq!(m.built_from.as_deref(), Some("linux-os7410-debug-k1"));
        assert_eq!(m.kernel_release, "6.1.0-1-amd64");
        // The published directory is a complete image, whose files are the base's.
        let read = cache::load_complete(&work).expect("a complete image");
        assert_eq!(read.name, "linux-os7410-b4");
        for f in [KERNEL, INITRD, CLIENT_KEY, HOST_KEY] {
            assert_eq!(std::fs::read(work.join(f)).unwrap(), f.as_bytes(), "{f}");
        }
        // Another base build, another key; another series build, another key.
        assert_ne!(derived_key(b4, "k2"), key);
        assert_ne!(derived_key(Recipe::find("linux-os7410-b3").unwrap(), "k1"), key);
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
