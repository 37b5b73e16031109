//! coal image configuration without an image: loader.conf and answers.json against golden
//! files, and the FAT partition of an image made in the test. `RIG_BLESS=1` rewrites goldens.

use std::path::{Path, PathBuf};

use rig::guest_os::illumos::coal::answers::{ADMIN_MAC, Answers, EXTERNAL_MAC, check_macs};
use rig::guest_os::illumos::coal::fat::{FatError, FatFs, create_image};
use rig::guest_os::illumos::coal::loader::{Kmdb, LoaderOptions, Nmi, merge};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/coal").join(name)
}

fn golden(name: &str, actual: &str) {
    let path = testdata(name);
    if std::env::var_os("RIG_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (RIG_BLESS=1 writes it)", path.display()));
    assert_eq!(actual, want, "{} differs; RIG_BLESS=1 rewrites it", path.display());
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rig-coal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn loader_conf_golden() {
    let input = std::fs::read_to_string(testdata("loader.conf.in")).unwrap();
    golden("loader.conf.golden", &merge(&input, &LoaderOptions::default()));
    let debug = LoaderOptions {
        autoboot_delay_secs: 0,
        nmi: Nmi::Kmdb,
        kmdb: Kmdb::LoadedPanicsStop,
        platform: Some("20181206T011455Z".into()),
    };
    golden("loader.conf.debug-platform.golden", &merge(&input, &debug));
}

#[test]
fn answers_golden_and_mac_check() {
    let json = Answers::coal(ADMIN_MAC, EXTERNAL_MAC, "rig-coal-pw1").to_json().unwrap();
    golden("answers.json.golden", &json);
    check_macs(Path::new("answers.json"), &json, ADMIN_MAC, EXTERNAL_MAC).unwrap();
    let e = check_macs(Path::new("/x/private/answers.json"), &json, "52:54:00:12:34:56", EXTERNAL_MAC).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/x/private/answers.json: admin_nic is 00:50:56:34:60:4c, but the machine's admin_nic MAC is 52:54:00:12:34:56; \
         coal setup would stop at an interactive NIC prompt"
    );
}

#[test]
fn fat_write_read_back_and_reopen() {
    let d = scratch("fat");
    let img = d.join("usb.img");
    create_image(&img, 40).unwrap();
    let fs = FatFs::open(&img).unwrap();
    assert_eq!(fs.partition.start, 2048 * 512);
    assert!(matches!(fs.read("boot/loader.conf"), Err(FatError::Missing { .. })));
    fs.write("/boot/loader.conf", b"console=\"ttyb\"\n").unwrap();
    fs.write("private/answers.json", b"{}\n").unwrap();
    fs.write("config.inc/root.authorized_keys", b"ssh-ed25519 AAAA rig\n").unwrap();
    fs.write("boot/loader.conf", b"os_console=\"ttyb\"\n").unwrap();
    fs.close().unwrap();

    let fs = FatFs::open(&img).unwrap();
    assert_eq!(fs.read("boot/loader.conf").unwrap(), b"os_console=\"ttyb\"\n", "rewritten, not appended");
    assert_eq!(fs.read("/config.inc/root.authorized_keys").unwrap(), b"ssh-ed25519 AAAA rig\n");
    let mut root = fs.list("/").unwrap();
    root.sort();
    assert_eq!(root, ["boot", "config.inc", "private"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn image_without_fat_is_named() {
    let d = scratch("nofat");
    let img = d.join("blank.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let e = FatFs::open(&img).err().unwrap().to_string();
    assert!(
        e.contains(&img.display().to_string()) && e.contains("no FAT partition") && e.contains("no MBR boot signature"),
        "{e}"
    );

    // A partition table whose partition is not FAT.
    let mut s0 = vec![0u8; 1 << 20];
    rig::guest_os::illumos::coal::parts::write_mbr(&mut s0[..512], 0x83, 1, 2000);
    std::fs::write(&img, &s0).unwrap();
    let e = FatFs::open(&img).err().unwrap().to_string();
    assert!(e.contains("MBR partitions 1: type 0x83") && e.contains("expected a SmartOS USB image"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

/// A GRUB-era menu.lst edited as loader.conf is: golden files, each read back with
/// `menu_lst::check`; a platform without `boot_archive.hash` loses only that module line.
#[test]
fn menu_lst_golden_and_read_back() {
    use rig::guest_os::illumos::coal::menu_lst::{check, edit};
    let input = std::fs::read_to_string(testdata("menu.lst.in")).unwrap();
    let all = |_: &str| true;
    let plain = edit(&input, &LoaderOptions::default(), &all).unwrap();
    check(&plain, &LoaderOptions::default()).unwrap();
    golden("menu.lst.golden", &plain);
    assert!(check(&input, &LoaderOptions::default()).is_err(), "the unedited menu must fail the read-back");

    let debug = LoaderOptions {
        autoboot_delay_secs: 0,
        nmi: Nmi::Kmdb,
        kmdb: Kmdb::LoadedPanicsStop,
        platform: Some("20181206T011455Z".into()),
    };
    let no_hash = |p: &str| !p.ends_with(".hash");
    let out = edit(&input, &debug, &no_hash).unwrap();
    check(&out, &debug).unwrap();
    golden("menu.lst.debug-platform.golden", &out);
    // The rescue and kmdb entries keep the image's own platform and flags.
    assert!(out.contains("unix -kd -B"), "{out}");
    assert_eq!(out.matches("/os/20181206T011455Z/").count(), 2, "{out}");
    assert!(check(&out, &LoaderOptions { kmdb: Kmdb::Off, ..debug.clone() }).is_err());
    assert!(edit("default 0\ntitle x\n kernel /boot/ipxe.lkrn\n", &debug, &all).is_err());
}
