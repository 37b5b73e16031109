//! A built kernel tree, packed into a Debian kernel package laid out as `make bindeb-pkg`
//! lays one out (`/boot/vmlinuz-<release>`, `/boot/config-<release>`, the modules under
//! `/lib/modules/<release>/kernel/`), so that a tree takes the package's path: the same
//! checks before any build, the same cache, the same image. Only the built files are read:
//! the tree is never written to.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

/// Where `make` leaves the compressed kernel.
const BZIMAGE: &str = "arch/x86/boot/bzImage";
/// Where `make` writes the release (`uname -r`) it built.
const RELEASE: &str = "include/config/kernel.release";

/// The modules a tree's `modules.order` lists, as paths of built `.ko` files relative to the
/// tree (kernels from 6.2 list `.o` files there, older ones `.ko`).
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

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    Ok(())
}

/// Packs the built `tree` into `<out_dir>/linux-image-<release>_<release>_amd64.deb`;
/// returns the package and the release. Refuses a tree that is not built, naming what is missing.
pub fn pack(tree: &Path, out_dir: &Path) -> Result<(PathBuf, String)> {
    let release = std::fs::read_to_string(tree.join(RELEASE)).map(|r| r.trim().to_string()).map_err(|_| {
        anyhow::anyhow!(
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
    ensure!(tree.join(".config").is_file(), "{} has no .config", tree.display());

    let stage = out_dir.join(format!(".tmp-tree-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let result = stage_and_build(tree, &release, &stage, out_dir);
    let _ = std::fs::remove_dir_all(&stage);
    result.map(|deb| (deb, release))
}

fn stage_and_build(tree: &Path, release: &str, stage: &Path, out_dir: &Path) -> Result<PathBuf> {
    copy(&tree.join(BZIMAGE), &stage.join(format!("boot/vmlinuz-{release}")))?;
    copy(&tree.join(".config"), &stage.join(format!("boot/config-{release}")))?;
    let mods = stage.join(format!("lib/modules/{release}"));
    std::fs::create_dir_all(&mods)?;
    let order = std::fs::read_to_string(tree.join("modules.order")).unwrap_or_default();
    let modules = modules_in_order(&order);
    for m in &modules {
        let built = tree.join(m);
        if !built.is_file() {
            bail!("{}: modules.order lists {m}, which is not built (run `make modules` there)", tree.display());
        }
        copy(&built, &mods.join("kernel").join(m))?;
    }
    let listed: String = modules.iter().map(|m| format!("kernel/{m}\n")).collect();
    std::fs::write(mods.join("modules.order"), listed)?;
    let builtin = std::fs::read_to_string(tree.join("modules.builtin")).unwrap_or_default();
    std::fs::write(mods.join("modules.builtin"), builtin)?;

    std::fs::create_dir_all(stage.join("DEBIAN"))?;
    let control = format!(
        "Package: linux-image-{release}\nVersion: {release}\nArchitecture: amd64\n\
         Maintainer: rig <rig@localhost>\nDescription: kernel {release} packed by the rig from {}\n",
        tree.display()
    );
    std::fs::write(stage.join("DEBIAN/control"), control)?;
    let deb = out_dir.join(format!("linux-image-{release}_{release}_amd64.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zgzip", "-z1"])
        .arg(stage)
        .arg(&deb)
        .output()
        .context("running dpkg-deb --build")?;
    ensure!(out.status.success(), "packing {}: {}", tree.display(), String::from_utf8_lossy(&out.stderr).trim());
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
}
