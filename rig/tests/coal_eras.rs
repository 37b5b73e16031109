//! `image coal` on keys of every era, made in the test from the layouts the build tools use
//! (`rig::guest_os::illumos::coal::keys`): a GRUB-era `coal-<2018>-4gb.tgz` (MBR, pcfs on partition 1,
//! `boot/grub/menu.lst`), its `.vmwarevm` directory, loader-era keys named `4gb.img` (2020) and
//! `8gb.img` (2023) (GPT, pcfs root on partition 3, `boot/loader.conf`), each with and without
//! `--platform`; and a loader-era key with a 2018 platform, refused before any boot.

use std::path::{Path, PathBuf};

use rig::guest_os::illumos::coal::era::{BootConfig, KeyShape, Table};
use rig::guest_os::illumos::coal::fat::FatFs;
use rig::guest_os::illumos::coal::loader::LoaderOptions;
use rig::guest_os::illumos::coal::{PrepareOptions, prepare};

#[path = "common/tarball.rs"]
mod tarball_util;
use tarball_util::tarball;

const GRUB_PI: &str = "20181129T002502Z";
const DEBUG_2018: &str = "20181206T011455Z";

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-coal-era-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/coal").join(name)).unwrap()
}

/// Fills a key's FAT root: the boot configuration, `.joyliveusb` and one platform.
fn fill(key: &Path, boot: BootConfig, pi: &str) {
    let fs = FatFs::open(key).unwrap();
    let conf = match boot {
        BootConfig::GrubMenu => String::from_utf8(testdata("menu.lst.in")).unwrap().replace(GRUB_PI, pi).into_bytes(),
        BootConfig::LoaderConf => testdata("loader.conf.in"),
    };
    fs.write(boot.path(), &conf).unwrap();
    fs.write(".joyliveusb", b"").unwrap();
    fs.write(&format!("os/{pi}/platform/i86pc/kernel/amd64/unix"), b"\x7fELF unix").unwrap();
    fs.write(&format!("os/{pi}/platform/i86pc/amd64/boot_archive"), b"archive").unwrap();
    fs.write(&format!("os/{pi}/platform/i86pc/amd64/boot_archive.hash"), b"hash").unwrap();
    fs.close().unwrap();
}

fn grub_key(path: &Path) {
    rig::guest_os::illumos::coal::keys::grub_key(path, 40).unwrap();
    fill(path, BootConfig::GrubMenu, GRUB_PI);
}

fn loader_key(path: &Path, pi: &str) {
    rig::guest_os::illumos::coal::keys::loader_key(path, 64).unwrap();
    fill(path, BootConfig::LoaderConf, pi);
}

/// A platform tarball `platform-<pi>/...` without a boot_archive.hash.
fn platform(dir: &Path, pi: &str) -> PathBuf {
    let p = dir.join(format!("platform-debug-{pi}.tgz"));
    tarball(
        &p,
        &[
            (&format!("platform-{pi}/i86pc/kernel/amd64/unix"), b"\x7fELF debug"),
            (&format!("platform-{pi}/i86pc/amd64/boot_archive"), b"debug archive"),
        ],
    );
    p
}

fn read(img: &Path, inner: &str) -> String {
    String::from_utf8(FatFs::open(img).unwrap().read(inner).unwrap()).unwrap()
}

fn release(img: &rig::guest_os::illumos::coal::CoalImage) {
    let _ = std::fs::set_permissions(&img.usb_base, std::os::unix::fs::PermissionsExt::from_mode(0o644));
}

#[test]
fn grub_era_4gb_tarball_directory_and_platform() {
    let d = scratch("grub");
    let vm = d.join(format!("coal-{GRUB_PI}-4gb.vmwarevm"));
    std::fs::create_dir_all(&vm).unwrap();
    grub_key(&vm.join("4gb.img"));
    std::fs::write(vm.join("USB-headnode.vmx"), "config").unwrap();
    let bytes = std::fs::read(vm.join("4gb.img")).unwrap();
    let tgz = d.join(format!("coal-{GRUB_PI}-4gb.tgz"));
    let entry = format!("coal-{GRUB_PI}-4gb.vmwarevm/4gb.img");
    tarball(&tgz, &[(&format!("root.password.{GRUB_PI}"), b"pw"), (&entry, &bytes)]);
    let want = KeyShape { table: Table::Mbr, root_partition: 1, boot: BootConfig::GrubMenu };

    let img = prepare(&PrepareOptions::new(tgz.clone(), None, d.join("build"))).unwrap();
    assert_eq!(img.manifest.key, Some(want));
    assert_eq!(img.manifest.source_entry.as_deref(), Some(entry.as_str()));
    assert_eq!(img.platform, GRUB_PI);
    let menu = read(&img.usb_base, "boot/grub/menu.lst");
    rig::guest_os::illumos::coal::menu_lst::check(&menu, &LoaderOptions::default()).unwrap();
    assert!(menu.contains(&format!("/os/{GRUB_PI}/platform/i86pc/amd64/boot_archive.hash")), "{menu}");
    assert!(!FatFs::open(&img.usb_base).unwrap().exists("boot/loader.conf"), "no loader.conf on a GRUB key");
    release(&img);

    // The .vmwarevm directory itself, and a 2018 DEBUG platform (its tarball has no hash file);
    // the directory's image is only read.
    let debug = platform(&d, DEBUG_2018);
    let before = (
        std::fs::read(vm.join("4gb.img")).unwrap(),
        std::fs::metadata(vm.join("4gb.img")).unwrap().modified().unwrap(),
    );
    let img = prepare(&PrepareOptions::new(vm.clone(), Some(debug), d.join("build"))).unwrap();
    let after = (
        std::fs::read(vm.join("4gb.img")).unwrap(),
        std::fs::metadata(vm.join("4gb.img")).unwrap().modified().unwrap(),
    );
    assert!(before == after, "the input image was written");
    assert_eq!(img.manifest.key, Some(want));
    assert_eq!(img.manifest.source_entry.as_deref(), Some("4gb.img"));
    assert_eq!(img.platform, DEBUG_2018);
    let menu = read(&img.usb_base, "boot/grub/menu.lst");
    let opts = LoaderOptions { platform: Some(DEBUG_2018.into()), ..Default::default() };
    rig::guest_os::illumos::coal::menu_lst::check(&menu, &opts).unwrap();
    assert!(!menu.contains(&format!("/os/{DEBUG_2018}/platform/i86pc/amd64/boot_archive.hash")), "{menu}");
    assert_eq!(read(&img.usb_base, &format!("os/{DEBUG_2018}/platform/i86pc/kernel/amd64/unix")), "\x7fELF debug");
    release(&img);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn loader_era_4gb_and_8gb_with_and_without_platform() {
    let d = scratch("loader");
    let want = KeyShape { table: Table::Gpt, root_partition: 3, boot: BootConfig::LoaderConf };
    for (pi, name) in [("20200312T000000Z", "4gb.img"), ("20230105T000000Z", "8gb.img")] {
        let size = &name[..3];
        let vm = d.join(format!("coal-{pi}-{size}.vmwarevm"));
        std::fs::create_dir_all(&vm).unwrap();
        loader_key(&vm.join(name), pi);
        let tgz = d.join(format!("coal-{pi}-{size}.tgz"));
        let bytes = std::fs::read(vm.join(name)).unwrap();
        tarball(&tgz, &[(&format!("coal-{pi}-{size}.vmwarevm/{name}"), &bytes)]);
        for newer in [None, Some(platform(&d, "20240101T000000Z"))] {
            let img = prepare(&PrepareOptions::new(tgz.clone(), newer.clone(), d.join("build"))).unwrap();
            assert_eq!(img.manifest.key, Some(want), "{name}");
            let conf = read(&img.usb_base, "boot/loader.conf");
            assert!(conf.contains("os_console=\"ttyb\"") && conf.contains("nmi=\"panic\""), "{conf}");
            assert_eq!(conf.contains("platform-version=\"20240101T000000Z\""), newer.is_some(), "{conf}");
            release(&img);
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_loader_key_with_a_2018_platform_is_refused_before_any_boot() {
    let d = scratch("refuse");
    let key = d.join("8gb.img");
    loader_key(&key, "20230105T000000Z");
    let debug = platform(&d, DEBUG_2018);
    let e = format!("{:#}", prepare(&PrepareOptions::new(key.clone(), Some(debug), d.join("build"))).unwrap_err());
    assert!(e.contains(&format!("platform {DEBUG_2018} cannot mount this key: loader era key (GPT")), "{e}");
    assert!(e.contains("(made with platform 20230105T000000Z)") && e.contains("Bring a GRUB-era coal"), "{e}");
    let left: Vec<_> = std::fs::read_dir(d.join("build/images")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n.to_string_lossy().ends_with(".lock")), "nothing prepared: {left:?}");

    // A GRUB-era key takes a newer platform: those mount both layouts.
    let grub = d.join("4gb.img");
    grub_key(&grub);
    let img = prepare(&PrepareOptions::new(grub, Some(platform(&d, "20240101T000000Z")), d.join("build"))).unwrap();
    assert_eq!(img.platform, "20240101T000000Z");
    release(&img);
    let _ = std::fs::remove_dir_all(&d);
}

/// Copies the FAT root of `img` into `to` (directories are what `list` can open).
fn extract(fs: &FatFs, inner: &str, to: &Path) {
    for name in fs.list(inner).unwrap() {
        let path = if inner.is_empty() { name.clone() } else { format!("{inner}/{name}") };
        match fs.list(&path) {
            Ok(_) => extract(fs, &path, to),
            Err(_) => {
                let out = to.join(&path);
                std::fs::create_dir_all(out.parent().unwrap()).unwrap();
                std::fs::write(out, fs.read(&path).unwrap()).unwrap();
            }
        }
    }
}

/// The stand-in's own menu.lst reader (`images/coal-stand-in/lib/grub-menu.sh`, shell and awk
/// written from Solaris GRUB's builtins, nothing shared with `menu_lst.rs`), run on the host
/// over the key the rig prepared: it must boot the added platform with the OS console on ttyb,
/// kmdb loaded without `-d` and `nmi=panic`, every module present; over the key's own menu it
/// reads the image's platform and console, and a module the key lacks stops it.
fn read_as_the_stand_in(menu: &Path, root: &Path) -> std::collections::BTreeMap<String, String> {
    let reader = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/coal-stand-in/lib/grub-menu.sh");
    let script = format!(
        "eval \"$(sh '{}' '{}' '{}')\" || exit 1; for v in timeout title flags console nmi pi missing; do eval \"echo $v=\\$menu_$v\"; done",
        reader.display(),
        menu.display(),
        root.display()
    );
    let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

#[test]
fn the_stand_ins_grub_reader_boots_what_the_rig_wrote() {
    let d = scratch("reader");
    let key = d.join("4gb.img");
    grub_key(&key);
    let img = prepare(&PrepareOptions::new(key.clone(), Some(platform(&d, DEBUG_2018)), d.join("build"))).unwrap();
    let root = d.join("root");
    extract(&FatFs::open(&img.usb_base).unwrap(), "", &root);
    std::fs::write(root.join("boot/grub/menu.lst.orig"), testdata("menu.lst.in")).unwrap();
    let got = read_as_the_stand_in(&root.join("boot/grub/menu.lst"), &root);
    let want = [
        ("timeout", "2"),
        ("title", "Headnode 64-bit"),
        ("flags", "-k"),
        ("console", "ttyb"),
        ("nmi", "panic"),
        ("pi", DEBUG_2018),
        ("missing", ""),
    ];
    for (k, v) in want {
        assert_eq!(got.get(k).map(String::as_str), Some(v), "{k}: {got:?}");
    }
    // The key's own menu boots its own platform on the text console: not what the rig asks.
    let own = read_as_the_stand_in(&root.join("boot/grub/menu.lst.orig"), &root);
    assert_eq!((own["console"].as_str(), own["pi"].as_str()), ("text", GRUB_PI));
    // A module the key lacks stops the boot where GRUB would.
    std::fs::remove_file(root.join(format!("os/{DEBUG_2018}/platform/i86pc/amd64/boot_archive"))).unwrap();
    let broken = read_as_the_stand_in(&root.join("boot/grub/menu.lst"), &root);
    assert_eq!(broken["missing"], format!("/os/{DEBUG_2018}/platform/i86pc/amd64/boot_archive"));
    release(&img);
    let _ = std::fs::remove_dir_all(&d);
}
