//! The coal stand-in's recipe: the files of `images/coal-stand-in/`, embedded at compile time
//! so the cache key covers exactly what a build uses.

use crate::guest_os::linux::image::recipe::RecipeFile;

macro_rules! stand_in_file {
    ($name:literal) => {
        RecipeFile { name: $name, contents: include_str!(concat!("../../../../../../images/coal-stand-in/", $name)) }
    };
}

/// Every file of the recipe. `build.sh` gets them all in `WORK/recipe/`.
pub const FILES: &[RecipeFile] = &[
    stand_in_file!("packages"),
    stand_in_file!("modules"),
    stand_in_file!("build.sh"),
    stand_in_file!("init"),
    stand_in_file!("zones"),
    stand_in_file!("questions"),
    stand_in_file!("lib/standin.sh"),
    stand_in_file!("lib/grub-menu.sh"),
    stand_in_file!("sbin/dmesg"),
    stand_in_file!("sbin/isainfo"),
    stand_in_file!("sbin/kstat"),
    stand_in_file!("sbin/mdb"),
    stand_in_file!("sbin/modinfo"),
    stand_in_file!("sbin/modload"),
    stand_in_file!("sbin/modunload"),
    stand_in_file!("sbin/psrinfo"),
    stand_in_file!("sbin/reboot"),
    stand_in_file!("sbin/savecore"),
    stand_in_file!("sbin/sysinfo"),
    stand_in_file!("sbin/uadmin"),
    stand_in_file!("sbin/vmadm"),
    stand_in_file!("sbin/zoneadm"),
    stand_in_file!("syslinux.cfg"),
    stand_in_file!("loader.conf"),
    stand_in_file!("menu.lst"),
];

/// The contents of one recipe file.
pub fn file(name: &str) -> &'static str {
    FILES.iter().find(|f| f.name == name).map(|f| f.contents).unwrap_or_else(|| panic!("no recipe file {name}"))
}

/// The platform the stand-in's GRUB-era key ships (`/os/<PI>/`, named in `menu.lst`): a
/// non-DEBUG build with the fix, from before the loader keys (its fs-joyent is the 2018 one).
pub const GRUB_PLATFORM: &str = "20190101T000000Z";
/// The platform the stand-in's loader-era (GPT) key ships: non-DEBUG, with the fix, from after
/// 2019-04, so its fs-joyent finds a key the way smartos-live's `usb-key.sh` does.
pub const LOADER_PLATFORM: &str = "20230105T000000Z";
/// The DEBUG platform from before the OS-7410 fix (illumos-joyent 5b87e03ada69 era).
pub const DEBUG_BUGGY_PLATFORM: &str = "20181206T011455Z";
/// The DEBUG platform with the fix (illumos-joyent a454ac291ee3, December 2018).
pub const DEBUG_FIXED_PLATFORM: &str = "20181220T002335Z";
/// The DEBUG platform whose vmm can never be unloaded ([`VMM_PINNED`], the race code of the
/// buggy one): a loader-era stamp (2019-04 or later, its fs-joyent finds a GPT key), so the
/// tests can boot it from the loader-era key.
pub const DEBUG_PINNED_PLATFORM: &str = "20190418T000000Z";

/// What a platform's `unix` says about its build; the stand-in's init reads these words.
pub fn unix_text(pi: &str, debug: bool, fixed: bool) -> String {
    format!("stand-in platform {pi} DEBUG={} OS7410_FIXED={}\n", u8::from(debug), u8::from(fixed))
}

/// The stand-in's switch, in a platform's `unix`, for a vmm that can never be unloaded (every
/// `modunload` of it is refused with `Device busy`): the platform on which a race is not
/// exercised. `lib/standin.sh` reads it.
pub const VMM_PINNED: &str = "VMM_PINNED=1";

/// The stand-in's switch, in a platform's `unix`, for the fs-joyent of 2019-04 and later: the key
/// is found as `usb-key.sh`'s `mount_usb_key` finds it (MBR partition 1 of a version-1 key, GPT
/// slice 2, the third partition, of a version-2 key). Without it, the 2018 rule: MBR partition
/// 1 only. The init reads it.
pub const FS_JOYENT_USB_KEY: &str = "FS_JOYENT_USB_KEY=1";

/// A platform's `unix` words with one more stand-in switch.
pub fn with_flag(unix: &str, flag: &str) -> String {
    format!("{} {flag}\n", unix.trim_end())
}

/// [`unix_text`] of a platform whose fs-joyent mounts both eras of key.
pub fn usb_key_unix_text(pi: &str, debug: bool, fixed: bool) -> String {
    with_flag(&unix_text(pi, debug, fixed), FS_JOYENT_USB_KEY)
}

/// [`unix_text`] of a platform whose vmm is pinned.
pub fn pinned_unix_text(pi: &str, debug: bool, fixed: bool) -> String {
    with_flag(&unix_text(pi, debug, fixed), VMM_PINNED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shim_the_rig_runs_is_embedded() {
        let rig_runs = ["kstat", "modinfo", "modload", "modunload", "mdb", "savecore", "vmadm", "reboot", "psrinfo"];
        for cmd in rig_runs.iter().chain(&["uadmin"]) {
            assert!(file(&format!("sbin/{cmd}")).starts_with("#!/bin/sh\n"), "{cmd}");
        }
        assert!(file("packages").contains("kernel linux-image-amd64"));
        assert_eq!(file("zones").lines().filter(|l| !l.starts_with('#')).count(), 22);
        // The stand-in asks the questions of the rig's table, in its order.
        let keys: Vec<&str> =
            file("questions").lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('|').next()).collect();
        let table: Vec<&str> = crate::guest_os::illumos::coal::questions::QUESTIONS.iter().map(|q| q.key).collect();
        assert_eq!(keys, table);
        assert_eq!(unix_text("X", true, false), "stand-in platform X DEBUG=1 OS7410_FIXED=0\n");
        assert_eq!(pinned_unix_text("X", true, false), "stand-in platform X DEBUG=1 OS7410_FIXED=0 VMM_PINNED=1\n");
        assert!(file("lib/standin.sh").contains("platform_flag VMM_PINNED"));
        assert_eq!(
            usb_key_unix_text("X", false, true),
            "stand-in platform X DEBUG=0 OS7410_FIXED=1 FS_JOYENT_USB_KEY=1\n"
        );
        assert!(file("init").contains("platform_flag FS_JOYENT_USB_KEY"));
    }

    #[test]
    fn every_file_of_the_recipe_folder_is_embedded() {
        // The list above is written by hand: a file added to the folder and not to it would
        // be missing from the guest (as sbin/uadmin once was) without a word.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/coal-stand-in");
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let name = p.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
                assert!(name == "README.md" || FILES.iter().any(|f| f.name == name), "{name} is not in FILES");
            }
        }
    }
}
