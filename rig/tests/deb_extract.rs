//! The in-process `.deb` reader (`rig::guest_os::linux::image::deb`) against `dpkg-deb`
//! itself: the default image's real packages and small packages built in every compression
//! `dpkg-deb --build` offers unpack to the same trees; truncated packages and unknown
//! compressions are errors naming the package.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rig::guest_os::linux::image::{deb, packages, recipe::Recipe};

fn scratch(name: &str) -> PathBuf {
    let dir = common::build_dir().join("test-runs").join(format!("deb-extract-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The default image's packages, downloaded (or found) in the build's deb cache.
fn image_debs() -> Vec<(packages::Package, PathBuf)> {
    let recipe = Recipe::find("linux").expect("the linux recipe");
    let list = recipe.files().find(|f| f.name == "packages").expect("a packages file").contents;
    let pkgs = packages::resolve(list).expect("resolving the image's packages");
    let debs = packages::download(&common::build_dir().join("debs"), &pkgs).expect("downloading them");
    pkgs.into_iter().zip(debs).collect()
}

/// Every path under `root` with what a guest tree keeps of it: type, mode, owner, size,
/// content hash or link target, and (for all but directories, whose times later packages change)
/// the modification time.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let what = if m.file_type().is_symlink() {
                format!("link {} {}:{}", std::fs::read_link(&p).unwrap().display(), m.uid(), m.gid())
            } else if m.is_dir() {
                todo.push(p.clone());
                format!("dir {:o} {}:{}", m.mode(), m.uid(), m.gid())
            } else {
                let sum = packages::sha256_file(&p).unwrap();
                format!(
                    "file {:o} {}:{} {} {sum} {} nlink={}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.len(),
                    m.mtime(),
                    m.nlink()
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

fn dpkg_deb_x(debs: &[&Path], dir: &Path) {
    for d in debs {
        let out = Command::new("dpkg-deb").arg("-x").arg(d).arg(dir).output().expect("running dpkg-deb (the oracle)");
        assert!(out.status.success(), "dpkg-deb -x {}: {}", d.display(), String::from_utf8_lossy(&out.stderr));
    }
}

fn assert_same_trees(ours: &Path, theirs: &Path) {
    let (a, b) = (tree(ours), tree(theirs));
    assert!(a.len() > 3, "almost nothing unpacked: {a:?}");
    for (path, want) in &b {
        assert_eq!(a.get(path), Some(want), "{path} differs from dpkg-deb -x");
    }
    assert_eq!(a.len(), b.len(), "extra paths: {:?}", a.keys().filter(|k| !b.contains_key(*k)).collect::<Vec<_>>());
}

#[test]
fn the_image_packages_unpack_as_dpkg_deb_unpacks_them() {
    let dir = scratch("image");
    let debs = image_debs();
    let small: Vec<&Path> = debs.iter().filter(|(p, _)| !p.kernel).map(|(_, d)| d.as_path()).collect();
    assert!(small.len() >= 5, "{small:?}");
    for d in &small {
        deb::unpack(d, &dir.join("ours"), &|_| true).unwrap();
    }
    dpkg_deb_x(&small, &dir.join("theirs"));
    assert_same_trees(&dir.join("ours"), &dir.join("theirs"));

    let (kernel, kernel_deb) = debs.iter().find(|(p, _)| p.kernel).expect("a kernel package");
    let control = deb::control(kernel_deb).unwrap();
    assert_eq!(deb::field(&control, "Package").as_deref(), Some(kernel.name.as_str()));
    assert_eq!(deb::field(&control, "Version").as_deref(), Some(kernel.version.as_str()));
    let release = kernel.kernel_release().expect("a release");
    let vmlinuz = format!("./boot/vmlinuz-{release}");
    assert!(deb::list(kernel_deb).unwrap().contains(&vmlinuz));
    let ours = deb::extract_member(kernel_deb, &vmlinuz, None).unwrap();
    let theirs = Command::new("sh")
        .arg("-c")
        .arg(format!("dpkg-deb --fsys-tarfile '{}' | tar -xO -f - '{vmlinuz}'", kernel_deb.display()))
        .output()
        .unwrap();
    assert!(theirs.status.success() && theirs.stdout.len() > 1_000_000);
    assert!(ours == theirs.stdout, "{vmlinuz} differs from dpkg-deb's");
    let err = deb::extract_member(kernel_deb, "./boot/nonesuch", None).unwrap_err();
    assert!(format!("{err:#}").contains("has no ./boot/nonesuch"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_compression_dpkg_deb_builds_unpacks_the_same() {
    let dir = scratch("kinds");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(src.join("usr/bin")).unwrap();
    std::fs::create_dir_all(src.join("etc/rig")).unwrap();
    std::fs::write(
        src.join("DEBIAN/control"),
        "Package: rig-test\nVersion: 1.0\nArchitecture: amd64\nMaintainer: rig\nDescription: a test\n",
    )
    .unwrap();
    std::fs::write(src.join("usr/bin/hello"), "#!/bin/sh\necho hello\n").unwrap();
    std::fs::write(src.join("etc/rig/conf"), "x".repeat(100_000)).unwrap();
    Command::new("chmod").args(["755"]).arg(src.join("usr/bin/hello")).status().unwrap();
    std::os::unix::fs::symlink("hello", src.join("usr/bin/hi")).unwrap();
    // A file owned by another user (as root, where tar keeps owners): kept as dpkg-deb keeps it.
    let root = std::fs::metadata(&src).unwrap().uid() == 0;
    if root {
        std::os::unix::fs::chown(src.join("etc/rig/conf"), Some(1234), Some(5678)).unwrap();
    }
    for kind in ["xz", "gzip", "zstd", "none"] {
        let pkg = dir.join(format!("rig-test-{kind}.deb"));
        let out =
            Command::new("dpkg-deb").args([&format!("-Z{kind}"), "--build"]).arg(&src).arg(&pkg).output().unwrap();
        assert!(out.status.success(), "dpkg-deb --build -Z{kind}: {}", String::from_utf8_lossy(&out.stderr));
        let (ours, theirs) = (dir.join(format!("ours-{kind}")), dir.join(format!("theirs-{kind}")));
        assert!(deb::unpack(&pkg, &ours, &|_| true).unwrap() >= 6, "{kind}");
        dpkg_deb_x(&[&pkg], &theirs);
        assert_same_trees(&ours, &theirs);
        assert_eq!(deb::field(&deb::control(&pkg).unwrap(), "Package").as_deref(), Some("rig-test"), "{kind}");
        // Only what the filter takes.
        let some = dir.join(format!("some-{kind}"));
        assert_eq!(deb::unpack(&pkg, &some, &|p| p == "./usr/bin/hello").unwrap(), 1);
        assert!(some.join("usr/bin/hello").is_file() && !some.join("etc/rig/conf").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_packages_and_unknown_compressions_are_errors_naming_the_package() {
    let dir = scratch("bad");
    let debs = image_debs();
    let (_, busybox) = debs.iter().find(|(p, _)| p.name == "busybox-static").expect("busybox-static");
    let bytes = std::fs::read(busybox).unwrap();
    for cut in [30, 200, bytes.len() / 2, bytes.len() - 10] {
        let short = dir.join(format!("cut-{cut}.deb"));
        std::fs::write(&short, &bytes[..cut]).unwrap();
        let err = deb::unpack(&short, &dir.join("out"), &|_| true).expect_err(&format!("cut at {cut} read whole"));
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("cut-{cut}.deb")), "{msg}");
        assert!(msg.contains("truncated") || msg.contains("not a Debian package"), "{msg}");
    }

    // A data.tar.bz2 (dpkg-deb reads it; the rig does not): said so, with the package's name.
    let odd = dir.join("odd_1.0_amd64.deb");
    let mut b = ar::Builder::new(std::fs::File::create(&odd).unwrap());
    for (name, data) in [("debian-binary", &b"2.0\n"[..]), ("control.tar", &[0u8; 1024][..]), ("data.tar.bz2", b"BZh9")]
    {
        b.append(&ar::Header::new(name.as_bytes().to_vec(), data.len() as u64), data).unwrap();
    }
    drop(b);
    let msg = format!("{:#}", deb::list(&odd).unwrap_err());
    assert!(msg.contains("odd_1.0_amd64.deb") && msg.contains(".bz2"), "{msg}");
    let text = dir.join("notes.deb");
    std::fs::write(&text, "not a package\n").unwrap();
    let msg = format!("{:#}", deb::control(&text).unwrap_err());
    assert!(msg.contains("notes.deb is not a Debian package"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
