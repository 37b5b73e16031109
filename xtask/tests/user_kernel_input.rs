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
    refused(&dir, &text, "vmlinuz.txt is not a Debian package");
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

    let tree = dir.join("linux");
    std::fs::create_dir_all(tree.join("include/config")).unwrap();
    std::fs::write(tree.join("include/config/kernel.release"), "6.1.99\n").unwrap();
    refused(&dir, &tree, "has no arch/x86/boot/bzImage: the kernel is not built");
    refused(&dir, &dir, "has no include/config/kernel.release: it is not a configured and built kernel tree");
    let mut bz = vec![0u8; 0x300];
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    std::fs::write(dir.join("bzImage"), &bz).unwrap();
    refused(&dir, &dir.join("bzImage"), "no `Linux version <release>` banner: is it a Linux kernel image?");
    bz.extend(b"Linux version 6.1.99-mine (me@here) #1 SMP\0");
    std::fs::write(dir.join("bzImage"), &bz).unwrap();
    refused(&dir, &dir.join("bzImage"), "give its configuration with --config");
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

/// A complete-looking Linux image directory `name-key` with a manifest.
fn fake_image(images: &Path, name: &str, key: &str) -> PathBuf {
    let dir = images.join(format!("{name}-{key}"));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["vmlinux", "initrd.cpio.gz", "client_key", "host_key.pub"] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    // Sealed as a build seals it: each boot artifact's size and SHA256 (of "x").
    let x = r#"{"bytes":1,"sha256":"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}"#;
    let manifest = format!(
        r#"{{"name":"{name}","key":"{key}","kernel_release":"6.1.0-1-amd64","cmdline":"","packages":[],"recipe_files":{{}},"built_at_unix":1,"build_seconds":1.0,"artifacts":{{"vmlinux":{x},"initrd.cpio.gz":{x}}}}}"#
    );
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    dir
}

#[test]
fn prune_removes_what_no_command_would_use_and_list_shows_the_rest() {
    let dir = scratch("prune");
    let build = dir.join("build");
    let images = build.join("images");
    let stale = fake_image(&images, "linux", "0000000000000000");
    let unregistered = fake_image(&images, "linux-gone", "1111111111111111");
    let unfinished = images.join(".tmp-linux-2222222222222222-4294967295");
    std::fs::create_dir_all(&unfinished).unwrap();
    // A current image whose initrd was cut short: damaged, so pruned too.
    let damaged = fake_image(&images, "linux-os7410-fixed", "3333333333333333");
    std::fs::write(damaged.join("initrd.cpio.gz"), "").unwrap();
    let orphan_deb = build.join("user-kernels/abc.deb");
    std::fs::create_dir_all(orphan_deb.parent().unwrap()).unwrap();
    std::fs::write(&orphan_deb, "x").unwrap();
    let xtask = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_xtask")).env("RIG_BUILD_DIR", &build).args(args).output().unwrap()
    };

    let out = xtask(&["image", "list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{listed}");
    assert!(
        listed.contains("linux-gone") && listed.contains("user kernel") && listed.contains("unfinished"),
        "{listed}"
    );
    assert!(listed.contains("damaged: initrd.cpio.gz is 0 bytes, built as 1"), "{listed}");

    let out = xtask(&["image", "prune"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
    for gone in [&stale, &unregistered, &unfinished, &damaged, &orphan_deb] {
        assert!(!gone.exists(), "{} is still there:\n{said}", gone.display());
        assert!(said.contains(&gone.display().to_string()), "{said}");
    }
    assert!(said.contains("5 removed"), "{said}");
    let out = xtask(&["image", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("no images"), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_or_a_device_as_kernel_is_refused_before_it_is_opened() {
    let dir = scratch("fifo");
    let fifo = dir.join("kernel.deb");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (kernel, says) in
        [(fifo.as_path(), "is a FIFO (named pipe)"), (Path::new("/dev/null"), "is a character device")]
    {
        // Opening a FIFO waits for a writer: the rig must answer without one, so it runs under a deadline.
        let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .env("RIG_BUILD_DIR", dir.join("build"))
            .args(["image", "linux", "--name", "mine", "--kernel"])
            .arg(kernel)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            panic!("image linux --kernel {} still waiting after 30 s", kernel.display());
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "wanted {says:?} in:\n{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
