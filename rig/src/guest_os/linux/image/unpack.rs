//! The packages of an image build unpacked in-process (`deb`) before its recipe script runs:
//! every package whole into `WORK/pkg`, and from the kernel package (~400 MB unpacked) only
//! what the guest needs, into the same tree. The scripts then only assemble the guest.

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};

use super::deb;
use super::packages::Package;

/// The paths of the kernel package an image takes: `vmlinuz`, the module metadata and the
/// listed modules (`modules`: one name a line, `#` comments), wherever they sit under
/// `kernel/`. A user's kernel (`all_modules`) may build a listed module in or leave it out,
/// so all of its modules are taken and the list is a wish the script checks.
pub struct KernelPaths {
    exact: Vec<String>,
    modules_dir: String,
    modules: Vec<String>,
    all_modules: bool,
}

impl KernelPaths {
    pub fn new(release: &str, modules: &str, all_modules: bool) -> KernelPaths {
        let mods = format!("./lib/modules/{release}");
        KernelPaths {
            exact: vec![
                format!("./boot/vmlinuz-{release}"),
                format!("{mods}/modules.order"),
                format!("{mods}/modules.builtin"),
            ],
            modules_dir: format!("{mods}/kernel"),
            modules: modules
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|m| !m.is_empty())
                .map(|m| format!("/{m}.ko"))
                .collect(),
            all_modules,
        }
    }

    /// Which wanted path (as listed: `.../kernel/*/m.ko` for a module) `path` is, if any.
    fn wants(&self, path: &str) -> Option<String> {
        if let Some(e) = self.exact.iter().find(|e| *e == path) {
            return Some(e.clone());
        }
        let rest = path.strip_prefix(&self.modules_dir)?;
        if self.all_modules {
            return (rest.is_empty() || rest.starts_with('/')).then(|| self.modules_dir.clone());
        }
        let under = rest.starts_with('/');
        let m = self.modules.iter().find(|m| under && rest.len() > m.len() && rest.ends_with(m.as_str()))?;
        Some(format!("{}/*{m}", self.modules_dir))
    }

    /// Everything wanted, as listed, for an error naming what the package lacks.
    fn all(&self) -> Vec<String> {
        let mut all = self.exact.clone();
        if self.all_modules {
            all.push(self.modules_dir.clone());
        } else {
            all.extend(self.modules.iter().map(|m| format!("{}/*{m}", self.modules_dir)));
        }
        all
    }
}

/// Unpacks `debs` (`packages`, same order) into `pkg`, in order (a later file replaces an
/// earlier one, as with `dpkg-deb -x`): the kernel package as `kernel` selects, the others
/// whole; build-only packages (kernel headers) go to `headers` when given and are skipped
/// otherwise. Fails when the kernel package lacks a wanted path.
pub fn unpack(
    debs: &[PathBuf],
    packages: &[Package],
    kernel: &KernelPaths,
    pkg: &Path,
    headers: Option<&Path>,
) -> Result<()> {
    for (d, p) in debs.iter().zip(packages) {
        if p.kernel {
            continue;
        }
        match (p.build_only, headers) {
            (false, _) => deb::unpack(d, pkg, &|_| true)?,
            (true, Some(dir)) => deb::unpack(d, dir, &|_| true)?,
            (true, None) => 0,
        };
    }
    let Some(k) = debs.iter().zip(packages).find(|(_, p)| p.kernel).map(|(d, _)| d) else {
        anyhow::bail!("no kernel package among {} packages", packages.len());
    };
    let found = std::cell::RefCell::new(std::collections::BTreeSet::new());
    deb::unpack(k, pkg, &|path| kernel.wants(path).map(|w| found.borrow_mut().insert(w)).is_some())?;
    let found = found.into_inner();
    let missing: Vec<String> = kernel.all().into_iter().filter(|w| !found.contains(w)).collect();
    ensure!(missing.is_empty(), "the kernel package {} has no {}", k.display(), missing.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_paths_take_vmlinuz_metadata_and_listed_modules_anywhere_under_kernel() {
        let k = KernelPaths::new("6.1.0-9-amd64", "# net\nvirtio_net\n\nzram  # swap\n", false);
        let m = "./lib/modules/6.1.0-9-amd64";
        assert_eq!(k.wants("./boot/vmlinuz-6.1.0-9-amd64").as_deref(), Some("./boot/vmlinuz-6.1.0-9-amd64"));
        assert!(k.wants(&format!("{m}/modules.order")).is_some());
        let net = k.wants(&format!("{m}/kernel/drivers/net/virtio_net.ko"));
        assert_eq!(net, Some(format!("{m}/kernel/*/virtio_net.ko")));
        assert!(k.wants(&format!("{m}/kernel/drivers/block/zram/zram.ko")).is_some());
        assert_eq!(k.wants(&format!("{m}/kernel/drivers/net/xvirtio_net.ko")), None);
        assert_eq!(k.wants(&format!("{m}/kernel/drivers/net/tun.ko")), None);
        assert_eq!(k.wants("./boot/config-6.1.0-9-amd64"), None);
        assert_eq!(k.all().len(), 5);
        let all = KernelPaths::new("6.1.0-9-amd64", "virtio_net\n", true);
        assert!(all.wants(&format!("{m}/kernel/drivers/net/tun.ko")).is_some());
        assert!(all.wants(&format!("{m}/kernel")).is_some());
        assert_eq!(all.wants(&format!("{m}/kernelx/a.ko")), None);
    }
}
