//! `cargo xtask image coal` without a real coal image: a small FAT USB image made in the test
//! stands in for coal's, raw and inside a tarball; bad inputs give errors naming the file; the
//! inputs are never modified; the machine's QEMU command line is checked.

use std::path::{Path, PathBuf};

use rig::guest_os::illumos::coal::bpb::{FatKind, Geometry, Root};
use rig::guest_os::illumos::coal::fat::{FatFs, create_image};
use rig::guest_os::illumos::coal::{PrepareOptions, prepare};
use rig::machine::{Accel, ChannelFds, cpu::lookup, qemu_args};
use sha2::{Digest, Sha256};

#[path = "common/tarball.rs"]
mod tarball_util;
use tarball_util::tarball;

const PI: &str = "20181206T011455Z";

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-coal-img-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What coal's USB image looks like to the rig: loader.conf and one platform under /os/.
fn fake_usb(path: &Path) {
    create_image(path, 40).unwrap();
    let fs = FatFs::open(path).unwrap();
    let conf = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/coal/loader.conf.in")).unwrap();
    fs.write("boot/loader.conf", &conf).unwrap();
    fs.write(&format!("os/{PI}/platform/i86pc/kernel/amd64/unix"), b"\x7fELF unix").unwrap();
    fs.write(&format!("os/{PI}/platform/i86pc/amd64/boot_archive"), b"archive").unwrap();
    fs.close().unwrap();
}

/// A tarball whose names are written as given, `..` included (the tar crate's builder refuses
/// those, as a crafted tarball would not).
fn raw_tarball(path: &Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    for (name, data) in files {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        t.append(&h, *data).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

/// Content hash and mtime: the proof an input was not touched.
fn fingerprint(p: &Path) -> (String, std::time::SystemTime) {
    let h = Sha256::digest(std::fs::read(p).unwrap());
    (h.iter().map(|b| format!("{b:02x}")).collect(), std::fs::metadata(p).unwrap().modified().unwrap())
}

fn read(img: &Path, inner: &str) -> String {
    String::from_utf8(FatFs::open(img).unwrap().read(inner).unwrap()).unwrap()
}

#[test]
fn raw_image_is_prepared_and_left_alone() {
    let d = scratch("raw");
    let usb = d.join("usb-8gb.img");
    fake_usb(&usb);
    let before = fingerprint(&usb);
    let img = prepare(&PrepareOptions::new(usb.clone(), None, d.join("build"))).unwrap();
    assert_eq!(fingerprint(&usb), before, "the input was modified");
    assert!(img.dir.file_name().unwrap().to_str().unwrap().starts_with("coal-"));
    assert_eq!(img.platform, PI);
    // The images directory and the manifest (it holds the root password) are the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(img.dir.parent().unwrap()), 0o700);
    assert_eq!(mode(&img.dir.join("coal.json")), 0o600);

    let conf = read(&img.usb_base, "boot/loader.conf");
    for want in [
        "console=\"ttyb,ttya,text\"",
        "os_console=\"ttyb\"",
        "ttyb-mode=\"115200,8,n,1,-\"",
        "nmi=\"panic\"",
        "headnode=\"true\"",
    ] {
        assert!(conf.contains(want), "loader.conf lacks {want}:\n{conf}");
    }
    for gone in ["smartos=", "nopanicdebug=", "boot_debug=", "boot_drop_into_kmdb="] {
        assert!(!conf.contains(gone), "loader.conf has {gone}:\n{conf}");
    }
    assert!(!conf.contains("platform-version"), "no --platform: the image's own choice is kept");
    let answers = read(&img.usb_base, "private/answers.json");
    assert!(answers.contains("\"admin_nic\": \"00:50:56:34:60:4c\""), "{answers}");
    rig::guest_os::illumos::coal::answers::check(Path::new("answers.json"), &answers).unwrap();
    let keys = read(&img.usb_base, "config.inc/root.authorized_keys");
    assert_eq!(keys, std::fs::read_to_string(img.client_key.with_extension("pub")).unwrap());
    assert!(keys.starts_with("ssh-ed25519 "));
    assert!(std::fs::metadata(&img.usb_base).unwrap().permissions().readonly());

    let info = std::process::Command::new("qemu-img").args(["info", "--output=json"]).arg(&img.usb).output().unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["backing-filename"], "usb.img");
    assert_eq!(info["backing-filename-format"], "raw");
    let info = std::process::Command::new("qemu-img").args(["info", "--output=json"]).arg(&img.zpool).output().unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["virtual-size"], 60u64 << 30);
    assert!(info["actual-size"].as_u64().unwrap() < 16 << 20, "the zpool disk is sparse");

    // Prepared once: the same options find it again.
    let again = prepare(&PrepareOptions::new(usb.clone(), None, d.join("build"))).unwrap();
    assert_eq!(again.dir, img.dir);
    let found = rig::guest_os::illumos::coal::prepared(&d.join("build"));
    assert_eq!(found.iter().map(|i| i.dir.clone()).collect::<Vec<_>>(), std::slice::from_ref(&img.dir));
    assert_eq!(fingerprint(&usb), before);
    let _ = std::fs::set_permissions(&img.usb_base, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn coal_tarball_and_debug_platform() {
    let d = scratch("tgz");
    let usb = d.join("usb.img");
    fake_usb(&usb);
    let coal = d.join("coal-latest.tgz");
    let bytes = std::fs::read(&usb).unwrap();
    tarball(
        &coal,
        &[
            ("coal-master-20181206T011455Z-g1234567-4gb.vmwarevm/USB-headnode.vmx", b"config"),
            (
                "coal-master-20181206T011455Z-g1234567-4gb.vmwarevm/coal-master-20181206T011455Z-g1234567-8gb.img",
                &bytes,
            ),
        ],
    );
    let platform = d.join("platform-debug-20190101T000000Z.tgz");
    tarball(
        &platform,
        &[
            ("platform-20190101T000000Z/i86pc/kernel/amd64/unix", b"\x7fELF debug unix"),
            ("platform-20190101T000000Z/i86pc/amd64/boot_archive", b"debug archive"),
            ("platform-20190101T000000Z/root.password", b"secret"),
        ],
    );
    let (c0, p0) = (fingerprint(&coal), fingerprint(&platform));
    let img = prepare(&PrepareOptions::new(coal.clone(), Some(platform.clone()), d.join("build"))).unwrap();
    assert_eq!((fingerprint(&coal), fingerprint(&platform)), (c0, p0), "an input was modified");
    assert_eq!(img.platform, "20190101T000000Z");
    assert!(img.manifest.source_entry.as_deref().unwrap().ends_with("-8gb.img"));
    assert_eq!(read(&img.usb_base, "os/20190101T000000Z/platform/i86pc/kernel/amd64/unix"), "\x7fELF debug unix");
    let conf = read(&img.usb_base, "boot/loader.conf");
    assert!(conf.contains("platform-version=\"20190101T000000Z\""), "{conf}");
    assert!(conf.contains("bootfile=\"/os/20190101T000000Z/platform/i86pc/kernel/amd64/unix\""), "{conf}");
    let _ = std::fs::set_permissions(&img.usb_base, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_inputs_are_named() {
    let d = scratch("bad");
    let build = d.join("build");
    let err = |from: &Path, platform: Option<&Path>| {
        let e = prepare(&PrepareOptions::new(from.to_path_buf(), platform.map(Path::to_path_buf), build.clone()))
            .unwrap_err();
        format!("{e:#}")
    };

    let not_coal = d.join("something.tgz");
    tarball(&not_coal, &[("src/main.rs", b"fn main() {}"), ("README", b"hi")]);
    let before = fingerprint(&not_coal);
    let e = err(&not_coal, None);
    assert!(
        e.contains(&not_coal.display().to_string())
            && e.contains("not a coal tarball")
            && e.contains("4gb.img or 8gb.img"),
        "{e}"
    );
    assert!(e.contains("src/main.rs"), "says what it found: {e}");
    assert_eq!(fingerprint(&not_coal), before);

    let blank = d.join("blank.img");
    let mut b = vec![0u8; 2 << 20];
    rig::guest_os::illumos::coal::parts::write_mbr(&mut b[..512], 0x83, 2048, 2048);
    std::fs::write(&blank, &b).unwrap();
    let e = err(&blank, None);
    assert!(e.starts_with(&format!("{}: no FAT partition", blank.display())), "{e}");

    let text = d.join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let e = err(&text, None);
    assert!(e.contains("notes.txt: neither a coal tarball"), "{e}");

    let usb = d.join("usb.img");
    fake_usb(&usb);
    let wrong = d.join("platform-wrong.tgz");
    tarball(&wrong, &[("platform/i86pc/kernel/amd64/unix", b"x")]);
    let e = err(&usb, Some(&wrong));
    assert!(
        e.contains("platform-wrong.tgz: not a SmartOS platform tarball") && e.contains("entry platform/i86pc"),
        "{e}"
    );
    let partial = d.join("platform-partial.tgz");
    tarball(&partial, &[("platform-20190101T000000Z/i86pc/kernel/amd64/unix", b"x")]);
    let e = err(&usb, Some(&partial));
    assert!(e.contains("platform-20190101T000000Z/i86pc/amd64/boot_archive is missing"), "{e}");

    let escape = d.join("platform-escape.tgz");
    raw_tarball(
        &escape,
        &[
            ("platform-20190101T000000Z/i86pc/kernel/amd64/unix", b"x"),
            ("platform-20190101T000000Z/../../boot/loader.conf", b"evil"),
        ],
    );
    let e = err(&usb, Some(&escape));
    assert!(
        e.contains("entry platform-20190101T000000Z/../../boot/loader.conf leaves platform-20190101T000000Z/"),
        "{e}"
    );
    let plain_fat = d.join("plain.img");
    create_image(&plain_fat, 34).unwrap();
    let e = err(&plain_fat, None);
    assert!(e.contains("plain.img: the FAT partition has no /os/ directory"), "{e}");
    // A password setup's strength rule refuses is an error here, not a setup that waits.
    let weak = PrepareOptions { password: "coal".into(), ..PrepareOptions::new(usb.clone(), None, build.clone()) };
    let e = format!("{:#}", prepare(&weak).unwrap_err());
    assert!(
        e.contains("admin_password: the password must be at least 7 characters long and include 1 letter and 1 number")
            && e.contains("'Enter admin password'"),
        "{e}"
    );
    // Nothing half-made is left behind.
    let left: Vec<_> = std::fs::read_dir(build.join("images")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n.to_string_lossy().ends_with(".lock")), "{left:?}");
    let _ = std::fs::remove_dir_all(&d);
}

/// Writes `bytes` at `offset` of a file.
fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::File::options().write(true).open(path).unwrap().write_all_at(bytes, offset).unwrap();
}

/// Where `create_image` puts the FAT partition.
const PART: u64 = 2048 * 512;

/// The volume's layout and the first cluster of the root directory's entry `name` (8.3, padded).
fn root_entry(img: &Path, name: &[u8; 11]) -> (Geometry, u32) {
    let disk = std::fs::read(img).unwrap();
    let part = &disk[PART as usize..];
    let g = rig::guest_os::illumos::coal::bpb::check(&part[..512], (disk.len() as u64) - PART).unwrap();
    let (at, len) = match g.root {
        Root::Region(at, len) => (at, len),
        Root::Cluster(c) => (g.cluster_offset(c), g.cluster_size),
    };
    let root = &part[at as usize..(at + len) as usize];
    let e = root.chunks_exact(32).find(|e| &e[..11] == name).expect("the entry");
    let hi = if g.kind == FatKind::Fat32 { u16::from_le_bytes([e[20], e[21]]) as u32 } else { 0 };
    let first = hi << 16 | u16::from_le_bytes([e[26], e[27]]) as u32;
    (g, first)
}

/// Crafted partition tables, boot sectors and FATs are errors naming the image and the field,
/// never a panic or a traversal that does not end; nothing half-made is left behind.
#[test]
fn crafted_images_are_refused() {
    let d = scratch("crafted");
    let build = d.join("build");
    let err = |from: &Path| {
        let e = prepare(&PrepareOptions::new(from.to_path_buf(), None, build.clone())).unwrap_err();
        format!("{e:#}")
    };
    // The error for `img`, which must start with its name and `prefix`.
    let refused = |img: &Path, prefix: &str| {
        let e = err(img);
        assert!(e.starts_with(&format!("{}: {prefix}", img.display())), "{e}");
        e
    };
    let crafted = |name: &str, edit: &dyn Fn(&Path)| {
        let img = d.join(name);
        fake_usb(&img);
        edit(&img);
        img
    };

    // The FAT16 boot sector made a FAT32 one whose FAT size overflows fatfs 0.3.6's u32 sums
    // (no 16-bit FAT size and root entries, version 0, 2^32-1 sectors per FAT).
    let img = crafted("bpb.img", &|img| {
        for (at, bytes) in [(17, &[0u8, 0][..]), (22, &[0, 0]), (36, &[0xff; 4]), (42, &[0, 0])] {
            patch(img, PART + at, bytes);
        }
    });
    let e = refused(&img, "no FAT partition found (MBR partitions 1: type 0x0c; partition 1: ");
    assert!(e.contains("sectors per FAT is 4294967295: a FAT of 2199023255040 bytes"), "{e}");
    let img = crafted("bpb-spc.img", &|img| patch(img, PART + 13, &[3]));
    let e = refused(&img, "no FAT partition found");
    assert!(e.contains("partition 1: sectors per cluster is 3 (expected a power of two from 1 to 128)"), "{e}");

    // /os/'s cluster chain comes back to itself and its cluster is full (no end-of-directory
    // entry): listing it would never end, and its list would grow without bound.
    let img = crafted("loop.img", &|img| {
        let (g, os) = root_entry(img, b"OS         ");
        let at = PART + g.cluster_offset(os);
        let cluster = std::fs::read(img).unwrap()[at as usize..(at + g.cluster_size) as usize].to_vec();
        let mut file = [0u8; 32];
        file[..11].copy_from_slice(b"LOOP    BIN");
        file[11] = 0x20;
        for (i, _) in cluster.chunks_exact(32).enumerate().filter(|(_, e)| e[0] == 0) {
            patch(img, at + 32 * i as u64, &file);
        }
        let (at, link) = match g.kind {
            FatKind::Fat16 => (2 * os as u64, (os as u16).to_le_bytes().to_vec()),
            FatKind::Fat32 => (4 * os as u64, os.to_le_bytes().to_vec()),
            FatKind::Fat12 => unreachable!("create_image makes FAT16 or FAT32"),
        };
        patch(img, PART + g.fat_offset + at, &link);
    });
    let e = refused(&img, "the FAT volume in partition 1: the cluster chain through cluster ");
    assert!(e.ends_with(" loops"), "{e}");
    // /boot's entry points outside the volume (fatfs would compute `1 - 2`).
    let img = crafted("stray.img", &|img| {
        let (g, _) = root_entry(img, b"BOOT       ");
        let Root::Region(at, _) = g.root else { unreachable!("a 40 MiB image is FAT16") };
        let disk = std::fs::read(img).unwrap();
        let root = &disk[(PART + at) as usize..];
        let i = root.chunks_exact(32).position(|e| &e[..11] == b"BOOT       ").unwrap() as u64;
        patch(img, PART + at + 32 * i + 26, &1u16.to_le_bytes());
    });
    refused(&img, "the FAT volume in partition 1: /BOOT: its first cluster is 1, not a cluster of the volume (2 to ");

    // A GPT whose entry array lies past the end of everything (u64 overflow in sectors * 512).
    let img = crafted("gpt.img", &|img| {
        let mut s0 = vec![0u8; 512];
        rig::guest_os::illumos::coal::parts::write_mbr(&mut s0, 0xee, 1, u32::MAX);
        patch(img, 0, &s0);
        let mut h = vec![0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[72..80].copy_from_slice(&(u64::MAX / 256).to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        patch(img, 512, &h);
    });
    refused(&img, "GPT partition entry array (32 sectors from sector 72057594037927935) does not lie inside the image");
    // An MBR partition that runs past the end of the image.
    let img = crafted("mbr.img", &|img| {
        let mut s0 = vec![0u8; 512];
        rig::guest_os::illumos::coal::parts::write_mbr(&mut s0, 0x0c, 2048, 40 * 2048);
        patch(img, 0, &s0);
    });
    refused(
        &img,
        "MBR partition 1 (type 0x0c) (81920 sectors from sector 2048) does not lie inside the image (41943040 bytes",
    );

    let left: Vec<_> = std::fs::read_dir(build.join("images")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n.to_string_lossy().ends_with(".lock")), "{left:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn coal_qemu_command_line() {
    let d = scratch("cmdline");
    let usb = d.join("usb.img");
    fake_usb(&usb);
    let img = prepare(&PrepareOptions::new(usb, None, d.join("build"))).unwrap();
    let spec = img.machine(lookup("epyc").unwrap(), Accel::Kvm, 8192, 4);
    let a = qemu_args(&spec, &ChannelFds { qmp: Some(3), serials: vec![4, 5] });
    let pair = |f: &str, v: &str| a.windows(2).any(|w| w[0] == f && w[1] == v);
    let usb = img.usb.display();
    let zpool = img.zpool.display();
    assert!(pair("-boot", "order=c"));
    assert!(pair("-m", "8192") && pair("-smp", "4"));
    assert!(pair("-drive", &format!("file={usb},format=qcow2,if=ide,index=0")), "{a:?}");
    assert!(pair("-drive", &format!("file={zpool},format=qcow2,if=virtio,index=1")), "{a:?}");
    assert!(pair("-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:0-:22"));
    assert!(pair("-netdev", "user,id=net1,restrict=on"));
    assert!(pair("-device", "e1000,netdev=net0,mac=00:50:56:34:60:4c"));
    assert!(pair("-device", "e1000,netdev=net1,mac=00:50:56:3d:a7:95"));
    for set in [
        "net0.net=10.99.99.0/24",
        "net0.host=10.99.99.254",
        "net0.dhcpstart=10.99.99.7",
        "net1.net=10.88.88.0/24",
        "net1.host=10.88.88.2",
        "net1.dns=10.88.88.253",
    ] {
        assert!(pair("-set", &format!("netdev.{set}")), "no -set netdev.{set}: {a:?}");
    }
    let set_at = a.iter().position(|x| x == "-set").unwrap();
    let netdev_at = a.iter().rposition(|x| x == "-netdev").unwrap();
    assert!(set_at > netdev_at, "-set must follow the -netdev it changes");
    assert!(pair("-serial", "chardev:serial0") && pair("-serial", "chardev:serial1"));
    assert!(!a.iter().any(|x| x == "pvpanic" || x == "vmcoreinfo" || x.contains("kvm-pit") || x.contains("-no-hpet")));
    let _ = std::fs::set_permissions(&img.usb_base, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn the_engine_targets_coal_and_starts_from_the_setup_snapshot_once_saved() {
    use rig::guest_os;
    let d = scratch("target");
    let usb = d.join("usb.img");
    fake_usb(&usb);
    let build = d.join("build");
    prepare(&PrepareOptions::new(usb, None, build.clone())).unwrap();
    let case =
        rig::case::find(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../testcases"), "os-7410-vmm-zsd").unwrap().case;
    let epyc = lookup("epyc").unwrap();

    let t = guest_os::load(&build, "coal").await.unwrap();
    assert!(!t.parallel_ok() && !t.reusable());
    // `coal` is the newest prepared headnode; `coal-<key>` names one.
    let c = rig::guest_os::illumos::coal::prepared(&build).remove(0);
    let named = c.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(guest_os::load(&build, &named).await.unwrap().keys().client_key, t.keys().client_key);
    assert!(t.keys().client_key.starts_with(&c.dir));
    let e = guest_os::load(&build, "coal-0000000000000000").await.unwrap_err().to_string();
    assert!(e.contains("coal-0000000000000000") && e.contains("cargo xtask image coal --from"), "{e}");
    assert_eq!(t.os().name(), "illumos");
    assert_eq!(t.profile().console_port, 1);
    let setup = t.setup_snapshot(&case.guest.shape(), epyc, Accel::Kvm).unwrap();
    assert_eq!(setup.tag, "rig-setup-epyc-hidden-8192m-4cpu-kvm");
    assert!(!setup.saved);
    let spec = t.machine(&case.guest.shape(), epyc, Accel::Kvm).unwrap();
    assert!(spec.hide_virt && !spec.nested, "the case hides SVM so vmm stays free to reload");
    assert!(!spec.extra_args.iter().any(|a| a == "-loadvm"));
    // coal's host key is made at its first boot: trusted on first use, pinned in the image.
    let keys = t.keys();
    assert!(keys.host_key.starts_with(&build) && !keys.host_key.exists());

    t.record_setup_snapshot(&setup.tag).unwrap();
    let t = guest_os::load(&build, "coal").await.unwrap();
    assert!(t.setup_snapshot(&case.guest.shape(), epyc, Accel::Kvm).unwrap().saved);
    let spec = t.machine(&case.guest.shape(), epyc, Accel::Kvm).unwrap();
    assert!(spec.extra_args.windows(2).any(|w| w[0] == "-loadvm" && w[1] == setup.tag), "{:?}", spec.extra_args);
    // Another machine shape (SVM shown, other accelerator) cannot resume that state.
    let mut nested = case.clone();
    nested.guest.hide_virt = false;
    nested.guest.nested = true;
    assert!(!t.setup_snapshot(&nested.guest.shape(), epyc, Accel::Kvm).unwrap().saved);
    assert!(!t.setup_snapshot(&case.guest.shape(), epyc, Accel::Tcg).unwrap().saved);
    assert!(!t.machine(&nested.guest.shape(), epyc, Accel::Kvm).unwrap().extra_args.iter().any(|a| a == "-loadvm"));

    let mut small = case.clone();
    small.guest.memory_mib = 2048;
    assert!(t.machine(&small.guest.shape(), epyc, Accel::Kvm).unwrap_err().to_string().contains("at least"));
    let _ = std::fs::set_permissions(&c.usb_base, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let _ = std::fs::remove_dir_all(&d);
}
