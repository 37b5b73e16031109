//! Builds the default `linux` image for real (apt-get download, dpkg-deb) and checks what it holds.

use std::path::PathBuf;
use std::time::Instant;

use rig::guest_os::linux::image::{cpio, ensure_image};

fn build_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../build"))
}

#[test]
fn linux_image_builds_and_is_cached() {
    let started = Instant::now();
    let img = ensure_image(&build_dir(), "linux").expect("building the linux image");
    eprintln!("ensure_image (first call): {:.2?} -> {}", started.elapsed(), img.dir.display());

    // The manifest names the kernel package and the exact versions.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&img.manifest).unwrap()).unwrap();
    let pkgs = manifest["packages"].as_array().unwrap();
    let kernel_pkg = format!("linux-image-{}", img.kernel_release);
    let kernel = pkgs.iter().find(|p| p["name"] == kernel_pkg.as_str()).expect("kernel in manifest");
    assert!(!kernel["version"].as_str().unwrap().is_empty());
    for name in ["busybox-static", "dropbear-bin", "libgmp10", "libc6"] {
        let p = pkgs.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(!p["version"].as_str().unwrap().is_empty(), "{name} has no version");
    }
    assert_eq!(manifest["kernel_release"], img.kernel_release.as_str());

    // The kernel is an uncompressed ELF.
    let head = std::fs::read(&img.kernel).unwrap();
    assert_eq!(&head[..4], b"\x7fELF", "kernel is not an ELF");

    // The initramfs holds init, the SSH server, its hidden library, and kvm_amd.
    let names: Vec<String> = cpio::list_gz(&img.initrd).unwrap().into_iter().map(|e| e.name).collect();
    let has = |suffix: &str| names.iter().any(|n| n.ends_with(suffix));
    for want in ["init", "usr/sbin/dropbear", "libgmp.so.10", "kvm-amd.ko", "modules.dep", "dev/console"] {
        assert!(has(want), "initrd lacks {want}");
    }
    assert!(names.iter().any(|n| n == "root/.ssh/authorized_keys"));

    // Keys: an OpenSSH private key for the client, a one-line host key to pin.
    let client = std::fs::read_to_string(&img.client_key).unwrap();
    assert!(client.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let host = std::fs::read_to_string(&img.host_key).unwrap();
    assert!(host.starts_with("ssh-ed25519 ") && host.trim().lines().count() == 1);

    // A second call is a cache hit: same directory, nothing rebuilt (the artifacts are the
    // same files, untouched). How fast a hit is belongs to benchmarks, not to this test: on a
    // loaded host it took 10 s (apt-cache resolving the package versions of the key).
    let artifact = |name: &str| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(img.dir.join(name)).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec(), m.len())
    };
    let before = (artifact("vmlinux"), artifact("initrd.cpio.gz"));
    let started = Instant::now();
    // The images directory (the initrd holds the guest's private host key) is the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(img.dir.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", img.dir.display());
    let again = ensure_image(&build_dir(), "linux").unwrap();
    let hit = started.elapsed();
    eprintln!("ensure_image (cache hit): {hit:.2?}");
    assert_eq!(again.dir, img.dir);
    assert_eq!((artifact("vmlinux"), artifact("initrd.cpio.gz")), before, "a cache hit rebuilt the image");
}

#[test]
fn unknown_image_names_the_known_ones() {
    let err = ensure_image(&build_dir(), "no-such-image").unwrap_err().to_string();
    assert!(err.contains("no-such-image") && err.contains("linux"), "{err}");
}

/// A cached image whose initrd was cut short (a full disk, a killed copy) is rebuilt when it
/// is next asked for, not handed out to boot. In a build directory of its own (the downloads
/// copied from the shared one), so the suite's other guests keep their image.
#[test]
fn a_truncated_cached_image_is_rebuilt_not_used() {
    ensure_image(&build_dir(), "linux").expect("the shared image, for its downloads");
    let scratch = build_dir().join(format!("scratch-truncated-image-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("debs")).unwrap();
    for e in std::fs::read_dir(build_dir().join("debs")).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), scratch.join("debs").join(e.file_name())).unwrap();
        }
    }
    let img = ensure_image(&scratch, "linux").expect("building the image");
    let whole = std::fs::metadata(&img.initrd).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&img.initrd).unwrap();
    f.set_len(whole / 2).unwrap();
    drop(f);
    assert!(cpio::list_gz(&img.initrd).is_err(), "the cut initrd no longer reads");
    let again = ensure_image(&scratch, "linux").expect("rebuilding the image");
    assert_eq!(again.dir, img.dir, "the same build, made again");
    // Whole again (not byte for byte: the rebuild's archive holds new times, and its
    // compressed size can differ by a byte), and it reads to its end.
    let len = std::fs::metadata(&again.initrd).unwrap().len();
    assert!(len > whole / 2 && len.abs_diff(whole) < whole / 100, "{len} bytes against {whole}");
    assert!(cpio::list_gz(&again.initrd).unwrap().iter().any(|e| e.name == "init"));
    std::fs::remove_dir_all(&scratch).unwrap();
}
