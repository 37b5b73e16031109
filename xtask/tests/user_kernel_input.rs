//! `cargo xtask image linux --kernel`: files that are no usable kernel package are refused
//! with exit 2 and a reason, before anything is built or booted, and nothing is registered.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-user-kernel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A Debian package `name` for `arch` holding `files` (path under /, contents).
fn deb(dir: &Path, name: &str, arch: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = dir.join(format!("{name}-{arch}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    let control = format!(
        "Package: {name}\nVersion: 6.1.999-1\nArchitecture: {arch}\nMaintainer: rig tests <rig@localhost>\n\
         Description: a package the rig must refuse\n"
    );
    std::fs::write(root.join("DEBIAN/control"), control).unwrap();
    for (path, contents) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    let out_path = dir.join(format!("{name}_{arch}.deb"));
    let out =
        Command::new("dpkg-deb").args(["--build", "--root-owner-group"]).arg(&root).arg(&out_path).output().unwrap();
    assert!(out.status.success(), "dpkg-deb --build: {}", String::from_utf8_lossy(&out.stderr));
    out_path
}

fn image_linux(build: &Path, kernel: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("RIG_BUILD_DIR", build)
        .args(["image", "linux", "--name", "mine", "--kernel"])
        .arg(kernel)
        .output()
        .expect("starting the rig")
}

/// Runs `image linux --kernel` on `kernel` and checks it is refused (exit 2) saying `want`,
/// with nothing registered.
fn refused(dir: &Path, kernel: &Path, want: &str) {
    let build = dir.join("build");
    let out = image_linux(&build, kernel);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(want), "wanted {want:?} in:\n{err}");
    assert!(!build.join("user-kernels/linux-mine.json").exists(), "a refused kernel was registered");
}

const SERIAL_LESS_CONFIG: &str = "CONFIG_64BIT=y\nCONFIG_PVH=y\nCONFIG_KERNEL_XZ=y\n\
    # CONFIG_SERIAL_8250_CONSOLE is not set\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_DEVTMPFS=y\n\
    CONFIG_UNIX=y\nCONFIG_INET=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_NET=y\nCONFIG_MODULES=y\n";

#[test]
fn files_that_are_no_usable_kernel_are_refused_before_any_boot() {
    let dir = scratch("bad");
    let text = dir.join("vmlinuz.txt");
    std::fs::write(&text, "not a kernel\n").unwrap();
    refused(&dir, &text, "is not a Debian package dpkg-deb can read");
    refused(&dir, &dir.join("nonesuch.deb"), "nonesuch.deb is not a file");

    let arm = deb(&dir, "linux-image-6.1.0-99-arm64", "arm64", &[("boot/vmlinuz-6.1.0-99-arm64", "x")]);
    refused(&dir, &arm, "is a package for \"arm64\"; the rig boots x86-64 guests");

    let meta = deb(&dir, "linux-image-amd64", "amd64", &[("usr/share/doc/linux-image-amd64/README", "x")]);
    refused(&dir, &meta, "holds no /boot/vmlinuz-<release>: it is not a kernel image package");

    let no_config = deb(&dir, "linux-image-6.1.0-98-amd64", "amd64", &[("boot/vmlinuz-6.1.0-98-amd64", "x")]);
    refused(&dir, &no_config, "holds no ./boot/config-6.1.0-98-amd64");

    let serial_less = deb(
        &dir,
        "linux-image-6.1.0-97-amd64",
        "amd64",
        &[("boot/vmlinuz-6.1.0-97-amd64", "x"), ("boot/config-6.1.0-97-amd64", SERIAL_LESS_CONFIG)],
    );
    refused(&dir, &serial_less, "CONFIG_SERIAL_8250_CONSOLE =y (not set): the console on ttyS0");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unregistered_user_image_is_bad_usage_that_says_how_to_make_it() {
    let dir = scratch("unknown");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .env("RIG_BUILD_DIR", dir.join("build"))
        .args(["rig", "--image", "linux-mine", "--cpu", "epyc", "--accel", "tcg", "--case", "boot-smoke"])
        .output()
        .expect("starting the rig");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown image 'linux-mine'"), "{err}");
    assert!(err.contains("cargo xtask image linux --kernel <linux-image-*.deb> --name mine"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
