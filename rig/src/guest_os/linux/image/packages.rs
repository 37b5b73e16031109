//! Debian packages: the host tools, the exact versions apt offers, and a download cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::Lock;
use super::recipe::list_lines;

/// Host tools a build runs, with the Debian package that provides each (packages are
/// unpacked in-process, `deb`; `dpkg-deb` builds a package from a user's kernel tree).
const HOST_TOOLS: &[(&str, &str)] = &[("apt-get", "apt"), ("apt-cache", "apt"), ("dpkg-deb", "dpkg")];

/// The Debian packages the host needs to build images.
pub const HOST_PACKAGES: &[&str] = &["apt", "dpkg"];

/// One Debian package at the exact version an image holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
    /// True for the guest kernel (`linux-image-<abi>`).
    pub kernel: bool,
    /// Needed only to build (kernel headers for out-of-tree modules); not put in the guest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub build_only: bool,
}

impl Package {
    /// The file name `apt-get download` gives the package (`:` of an epoch becomes `%3a`).
    pub fn deb_file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.name, self.version.replace(':', "%3a"), self.architecture)
    }

    /// The kernel release (`uname -r`) of a `linux-image-<release>` package.
    pub fn kernel_release(&self) -> Option<&str> {
        self.name.strip_prefix("linux-image-")
    }
}

/// Fails with what to install when a tool the build needs is missing.
pub fn check_host_tools() -> Result<()> {
    let missing: Vec<_> = HOST_TOOLS.iter().filter(|(tool, _)| !on_path(tool)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let tools: Vec<_> = missing.iter().map(|(t, _)| *t).collect();
    let mut pkgs: Vec<_> = missing.iter().map(|(_, p)| *p).collect();
    pkgs.dedup();
    bail!(
        "building a guest image needs {} (Debian/Ubuntu host tools): install with `apt-get install {}`",
        tools.join(", "),
        pkgs.join(" ")
    )
}

/// Whether a program of this name is on `$PATH`.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Resolves the `packages` recipe file to the exact versions apt offers now.
pub fn resolve(packages_file: &str) -> Result<Vec<Package>> {
    let mut names = Vec::new();
    let mut kernel_meta = None;
    for line in list_lines(packages_file) {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["kernel", meta] => kernel_meta = Some(meta.to_string()),
            [name] => names.push(name.to_string()),
            _ => bail!("images/linux/packages: cannot read line {line:?}"),
        }
    }
    let meta = kernel_meta.context("images/linux/packages names no `kernel <meta-package>`")?;
    let meta_stanza = apt_show(std::slice::from_ref(&meta))?.remove(0);
    let depends = meta_stanza.get("Depends").map(String::as_str).unwrap_or("");
    let kernel =
        kernel_dependency(depends).with_context(|| format!("{meta} depends on no linux-image package: {depends:?}"))?;
    names.insert(0, kernel.clone());

    packages(&names, Some(&kernel), false)
}

/// The exact versions of `names` from `apt-cache show`; `kernel` names the kernel package.
fn packages(names: &[String], kernel: Option<&str>, build_only: bool) -> Result<Vec<Package>> {
    let stanzas = apt_show(names)?;
    names
        .iter()
        .zip(stanzas)
        .map(|(name, s)| {
            let field = |f: &str| s.get(f).cloned().with_context(|| format!("apt-cache show {name}: no {f} field"));
            Ok(Package {
                name: name.clone(),
                version: field("Version")?,
                architecture: field("Architecture")?,
                sha256: field("SHA256")?,
                kernel: kernel == Some(name.as_str()),
                build_only,
            })
        })
        .collect()
}

/// The guest kernel's headers: `linux-headers-<release>` and the `linux-headers-*` and
/// `linux-kbuild-*` packages it depends on (build-only), and the compiler the kernel was
/// built with, named by its `linux-compiler-gcc-<N>-<arch>` dependency (e.g. `gcc-12`).
pub fn resolve_headers(kernel_release: &str) -> Result<(Vec<Package>, Option<String>)> {
    let top = format!("linux-headers-{kernel_release}");
    let stanza = apt_show(std::slice::from_ref(&top))?.remove(0);
    let (mut names, compiler) = headers_dependencies(stanza.get("Depends").map(String::as_str).unwrap_or(""));
    names.insert(0, top);
    let pkgs = packages(&names, None, true)?;
    Ok((pkgs, compiler))
}

/// From a headers package's Depends: the `linux-headers-*`/`linux-kbuild-*` packages to
/// fetch, and the compiler (`linux-compiler-gcc-12-x86` → `gcc-12`).
pub fn headers_dependencies(depends: &str) -> (Vec<String>, Option<String>) {
    let mut fetch = Vec::new();
    let mut compiler = None;
    for name in depends.split(',').filter_map(|d| d.split('|').next()?.split_whitespace().next()) {
        if name.starts_with("linux-headers-") || name.starts_with("linux-kbuild-") {
            fetch.push(name.to_string());
        } else if let Some(rest) = name.strip_prefix("linux-compiler-") {
            // gcc-12-x86 → gcc-12
            compiler = rest.rsplit_once('-').map(|(cc, _arch)| cc.to_string());
        }
    }
    (fetch, compiler)
}

/// Fails with what to install when a program a recipe's hooks run is missing: `make`,
/// `gcc` and the kernel's compiler (`gcc-12`), each from the Debian package of that name.
pub fn check_build_tools(compiler: Option<&str>) -> Result<()> {
    let mut missing: Vec<&str> = ["make", "gcc"].into_iter().filter(|t| !on_path(t)).collect();
    if let Some(cc) = compiler.filter(|cc| !on_path(cc) && !missing.contains(cc)) {
        missing.push(cc);
    }
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "building this image's kernel modules needs {} on the host: install with `apt-get install {}`",
        missing.join(", "),
        missing.join(" ")
    )
}

/// The `linux-image-*` package in a Depends field (`linux-image-6.1.0-41-amd64 (= 6.1.158-1)`).
pub fn kernel_dependency(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .find(|d| d.starts_with("linux-image-"))
        .map(str::to_string)
}

/// `apt-cache show --no-all-versions` for each name, one stanza per name, in order.
fn apt_show(names: &[String]) -> Result<Vec<HashMap<String, String>>> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions"])
        .args(names)
        .output()
        .context("running apt-cache")?;
    if !out.status.success() {
        bail!(
            "apt-cache show {} failed (run `apt-get update`?): {}",
            names.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let stanzas = parse_stanzas(&String::from_utf8_lossy(&out.stdout));
    names
        .iter()
        .map(|n| {
            stanzas
                .iter()
                .find(|s| s.get("Package") == Some(n))
                .cloned()
                .with_context(|| format!("apt does not know package {n} (run `apt-get update`?)"))
        })
        .collect()
}

/// Parses deb822 stanzas (`Field: value` lines, blank-line separated; continuation lines dropped).
pub fn parse_stanzas(text: &str) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    let mut cur = HashMap::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if !line.starts_with([' ', '\t'])
            && let Some((k, v)) = line.split_once(':')
        {
            cur.insert(k.to_string(), v.trim().to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Makes sure every package is in `debs_dir` with the right checksum, downloading what is
/// missing with `apt-get download`; returns the .deb paths in the order of `packages`.
pub fn download(debs_dir: &Path, packages: &[Package]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(debs_dir).with_context(|| format!("creating {}", debs_dir.display()))?;
    let _lock = Lock::acquire(&debs_dir.join(".lock"))?;
    let missing: Vec<&Package> = packages.iter().filter(|p| !has_valid_deb(debs_dir, p)).collect();
    if !missing.is_empty() {
        let specs: Vec<String> = missing.iter().map(|p| format!("{}={}", p.name, p.version)).collect();
        tracing::info!(packages = %specs.join(" "), "downloading Debian packages");
        let mut cmd = Command::new("apt-get");
        cmd.current_dir(debs_dir).arg("download").arg("-q");
        if unsafe { libc::geteuid() } == 0 {
            // As root apt drops to the _apt user, who cannot write to our cache.
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        let out = cmd.args(&specs).output().context("running apt-get download")?;
        if !out.status.success() {
            bail!("apt-get download {} failed: {}", specs.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        for p in missing {
            if !has_valid_deb(debs_dir, p) {
                bail!("{} downloaded but its SHA256 is not {}", p.deb_file_name(), p.sha256);
            }
        }
    }
    Ok(packages.iter().map(|p| debs_dir.join(p.deb_file_name())).collect())
}

fn has_valid_deb(debs_dir: &Path, p: &Package) -> bool {
    let path = debs_dir.join(p.deb_file_name());
    match sha256_file(&path) {
        Ok(sum) if sum == p.sha256 => true,
        Ok(_) => {
            tracing::warn!(path = %path.display(), "cached package has a wrong checksum; fetching again");
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(_) => false,
    }
}

/// The SHA256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(sha256_read(std::fs::File::open(path)?)?.1)
}

/// The length of everything `r` gives and its SHA256, lower-case hex (sha2 0.11 hashers are
/// no `io::Write`, so no `io::copy` into one).
pub fn sha256_read(mut r: impl std::io::Read) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok((total, hex(&h.finalize()))),
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kernel_dependency() {
        let d = "linux-image-6.1.0-41-amd64 (= 6.1.158-1), foo";
        assert_eq!(kernel_dependency(d).as_deref(), Some("linux-image-6.1.0-41-amd64"));
        assert_eq!(kernel_dependency("foo, bar"), None);
    }

    #[test]
    fn headers_dependencies_split_fetch_and_compiler() {
        let d = "linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), \
                 linux-compiler-gcc-12-x86";
        let (fetch, cc) = headers_dependencies(d);
        assert_eq!(fetch, ["linux-headers-6.1.0-56-common", "linux-kbuild-6.1"]);
        assert_eq!(cc.as_deref(), Some("gcc-12"));
        assert_eq!(headers_dependencies(""), (vec![], None));
    }

    #[test]
    fn parses_stanzas() {
        let t = "Package: a\nVersion: 1:2.0-1\nDescription: x\n more\n\nPackage: b\nVersion: 3\n";
        let s = parse_stanzas(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0]["Version"], "1:2.0-1");
        assert_eq!(s[1]["Package"], "b");
    }

    #[test]
    fn deb_file_name_encodes_epoch() {
        let p = Package {
            name: "busybox-static".into(),
            version: "1:1.35.0-4".into(),
            architecture: "amd64".into(),
            sha256: String::new(),
            kernel: false,
            build_only: false,
        };
        assert_eq!(p.deb_file_name(), "busybox-static_1%3a1.35.0-4_amd64.deb");
    }
}
