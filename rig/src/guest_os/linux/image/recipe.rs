//! Image recipes as data: which recipe files an image is built from and its kernel command line.
//!
//! The recipe files live in `images/<dir>/` and are embedded in the rig at compile time, so the
//! binary is self-contained and the cache key covers exactly what a build uses.

use crate::guest_os::KnownBisection;

/// One file of a recipe: its name in `images/<dir>/` and its contents.
#[derive(Debug, Clone, Copy)]
pub struct RecipeFile {
    pub name: &'static str,
    pub contents: &'static str,
}

/// How to build one named image.
///
/// A variant (e.g. `linux-os7410-debug`) is another entry of [`RECIPES`]: the same base files
/// plus its own extras (out-of-tree module sources, init hooks) and command-line arguments.
#[derive(Debug, Clone, Copy)]
pub struct Recipe {
    /// The name users pass (`--image linux`).
    pub name: &'static str,
    /// Files from `images/linux/` every Linux image shares: packages, modules, init, build.sh.
    pub base_files: &'static [RecipeFile],
    /// Files this variant adds on top (written next to the base files before the build).
    pub extra_files: &'static [RecipeFile],
    /// Kernel command-line arguments after [`BASE_CMDLINE`].
    pub extra_cmdline: &'static [&'static str],
    /// Whether the build needs the guest kernel's headers (`linux-headers-<abi>` and the
    /// `linux-*` packages it depends on), fetched for the hooks and kept out of the guest.
    pub kernel_headers: bool,
    /// Scripts run after `build.sh`, in order, while the unpacked packages are still there.
    pub hooks: &'static [Hook],
    /// Another image whose built artifacts this one boots, with [`Recipe::extra_cmdline`] added
    /// to that image's command line: nothing is built for it but a directory of links (see
    /// [`super::derived`]). Its files, headers and hooks are empty.
    pub built_from: Option<&'static str>,
}

/// A build step of a variant: `sh recipe/<script> WORK ABI <args>... <build-only .debs>...`.
#[derive(Debug, Clone, Copy)]
pub struct Hook {
    /// The script, a recipe file name (e.g. `os7410/build.sh`).
    pub script: &'static str,
    pub args: &'static [&'static str],
}

/// The command line every Linux image boots with; the rig appends per-run extras.
///
/// `panic=0`: never reboot on panic (pvpanic + `-action panic=pause` stop the guest for a
/// dump); `unknown_nmi_panic=1`: QMP `inject-nmi` turns a silent hang into a panic;
/// `no_timer_check`: no IO-APIC timer check at boot, which a TCG guest on a loaded host fails
/// (`Kernel panic - not syncing: IO-APIC + timer doesn't work!` at 0.06 s, seen twice in one
/// suite run beside a CPU hog): the host's pace, not the kernel under test.
pub const BASE_CMDLINE: &[&str] =
    &["console=ttyS0,115200", "panic=0", "unknown_nmi_panic=1", "no_timer_check", "rdinit=/init"];

macro_rules! recipe_file {
    ($dir:literal, $name:literal) => {
        RecipeFile { name: $name, contents: include_str!(concat!("../../../../../images/", $dir, "/", $name)) }
    };
}

/// The files of `images/linux/`.
pub const LINUX_FILES: &[RecipeFile] = &[
    recipe_file!("linux", "packages"),
    recipe_file!("linux", "modules"),
    recipe_file!("linux", "init"),
    recipe_file!("linux", "build.sh"),
    recipe_file!("linux", "tools/build.sh"),
    recipe_file!("linux", "tools/kvm-churn.c"),
];

/// Every Linux image builds the guest tools (`images/linux/tools/`: kvm-churn).
const TOOLS: Hook = Hook { script: "tools/build.sh", args: &[] };

/// The OS-7410 fixture (`images/linux/os7410/`): miniature illumos zones and vmm as two
/// out-of-tree modules, built against the guest kernel's headers, plus the guest scripts.
pub const OS7410_FILES: &[RecipeFile] = &[
    recipe_file!("linux", "os7410/build.sh"),
    recipe_file!("linux", "os7410/Kbuild"),
    recipe_file!("linux", "os7410/zones.h"),
    recipe_file!("linux", "os7410/zones.c"),
    recipe_file!("linux", "os7410/vmm.c"),
    recipe_file!("linux", "os7410/zoneadm"),
    recipe_file!("linux", "os7410/os7410-iteration.sh"),
    recipe_file!("linux", "os7410/os7410-reload-loop.sh"),
];

/// In-guest kdump (`images/linux/kdump/`): a kexec_file_load loader, the compressed kernel and
/// a capture initramfs in the guest, loaded by init into the `crashkernel=` reservation.
pub const KDUMP_FILES: &[RecipeFile] =
    &[recipe_file!("linux", "kdump/build.sh"), recipe_file!("linux", "kdump/kexec-load.c")];

/// A BUG (the fixture's ASSERT) panics, as a DEBUG illumos kernel does. (`oops=panic` is
/// the boot parameter behind the `kernel.panic_on_oops` sysctl; `panic_on_oops=1` is not one.)
const OS7410_CMDLINE: &[&str] = &["oops=panic"];

/// Every image the rig knows how to build.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        name: "linux",
        base_files: LINUX_FILES,
        extra_files: &[],
        extra_cmdline: &[],
        kernel_headers: false,
        hooks: &[TOOLS],
        built_from: None,
    },
    // The default guest, dumping itself through kdump after a panic (the capture kernel boots
    // with rig.capture=1; the rig fetches /proc/vmcore over SSH).
    Recipe {
        name: "linux-kdump",
        base_files: LINUX_FILES,
        extra_files: KDUMP_FILES,
        extra_cmdline: &["crashkernel=160M"],
        kernel_headers: false,
        hooks: &[TOOLS, Hook { script: "kdump/build.sh", args: &[] }],
        built_from: None,
    },
    // OS-7410 before the fix: vmm_zsd_destroy() asserts !vz_active and a reload trips it.
    Recipe {
        name: "linux-os7410-debug",
        base_files: LINUX_FILES,
        extra_files: OS7410_FILES,
        extra_cmdline: OS7410_CMDLINE,
        kernel_headers: true,
        hooks: &[TOOLS, Hook { script: "os7410/build.sh", args: &["debug"] }],
        built_from: None,
    },
    // OS-7410 with illumos-joyent a454ac291ee3: the same race, no panic.
    Recipe {
        name: "linux-os7410-fixed",
        base_files: LINUX_FILES,
        extra_files: OS7410_FILES,
        extra_cmdline: OS7410_CMDLINE,
        kernel_headers: true,
        hooks: &[TOOLS, Hook { script: "os7410/build.sh", args: &["fixed"] }],
        built_from: None,
    },
    // The OS-7410 bisection series (OS7410_SERIES): the debug build's artifacts, its vmm told
    // by the command line to behave as fixed (b1-b3) or as debug (b4-b6, the bug's arrival).
    series_build("linux-os7410-b1", &["vmm.fixed=1"]),
    series_build("linux-os7410-b2", &["vmm.fixed=1"]),
    series_build("linux-os7410-b3", &["vmm.fixed=1"]),
    series_build("linux-os7410-b4", &["vmm.fixed=0"]),
    series_build("linux-os7410-b5", &["vmm.fixed=0"]),
    series_build("linux-os7410-b6", &["vmm.fixed=0"]),
];

/// OS-7410's history in six builds of the miniature: b1-b3 behave as `linux-os7410-fixed`
/// (`vmm.fixed=1`), b4-b6 as `linux-os7410-debug` (`vmm.fixed=0`): the bug arrives at b4. All
/// six boot `linux-os7410-debug`'s kernel and initramfs, so the series costs that one build.
pub const OS7410_SERIES: KnownBisection = KnownBisection {
    builds: &[
        "linux-os7410-b1",
        "linux-os7410-b2",
        "linux-os7410-b3",
        "linux-os7410-b4",
        "linux-os7410-b5",
        "linux-os7410-b6",
    ],
    first_bad: "linux-os7410-b4",
    case: "os-7410-miniature",
};

/// A build of [`OS7410_SERIES`]: `linux-os7410-debug`'s artifacts booted with `cmdline` added.
const fn series_build(name: &'static str, cmdline: &'static [&'static str]) -> Recipe {
    Recipe {
        name,
        base_files: &[],
        extra_files: &[],
        extra_cmdline: cmdline,
        kernel_headers: false,
        hooks: &[],
        built_from: Some("linux-os7410-debug"),
    }
}

impl Recipe {
    /// Looks a recipe up by name.
    pub fn find(name: &str) -> Option<&'static Recipe> {
        RECIPES.iter().find(|r| r.name == name)
    }

    /// All files of the recipe, base first.
    pub fn files(&self) -> impl Iterator<Item = &'static RecipeFile> {
        self.base_files.iter().chain(self.extra_files.iter())
    }

    /// The contents of one recipe file (an extra file overrides a base file of the same name).
    pub fn file(&self, name: &str) -> Option<&'static str> {
        self.extra_files.iter().chain(self.base_files.iter()).find(|f| f.name == name).map(|f| f.contents)
    }

    /// The kernel command line: the base one plus this variant's arguments (after those of the
    /// image it is built from, if any).
    pub fn cmdline(&self) -> String {
        let from = self.built_from.and_then(Recipe::find).map(|r| r.cmdline());
        let own = self.extra_cmdline.iter().copied();
        match from {
            Some(base) => std::iter::once(base.as_str()).chain(own).collect::<Vec<_>>().join(" "),
            None => BASE_CMDLINE.iter().copied().chain(own).collect::<Vec<_>>().join(" "),
        }
    }
}

/// The lines of a recipe list file, without comments and blank lines.
pub fn list_lines(contents: &str) -> impl Iterator<Item = &str> {
    contents.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_recipe_is_complete() {
        let r = Recipe::find("linux").unwrap();
        for f in ["packages", "modules", "init", "build.sh"] {
            assert!(r.file(f).is_some_and(|c| !c.is_empty()), "{f}");
        }
        assert!(r.cmdline().starts_with("console=ttyS0"));
        assert!(!r.kernel_headers);
        // Every Linux image builds the guest tools, and nothing else without headers.
        assert_eq!(r.hooks.len(), 1);
        assert_eq!(r.hooks[0].script, "tools/build.sh");
        assert!(r.file("tools/kvm-churn.c").is_some());
    }

    #[test]
    fn os7410_variants_build_their_modules_and_panic_on_oops() {
        for (name, flavour) in [("linux-os7410-debug", "debug"), ("linux-os7410-fixed", "fixed")] {
            let r = Recipe::find(name).unwrap();
            assert!(r.kernel_headers, "{name}");
            let hook = r.hooks.iter().find(|h| h.script == "os7410/build.sh").expect("the fixture hook");
            assert_eq!(hook.args, [flavour]);
            assert!(r.file(hook.script).is_some(), "{name}: hook script not embedded");
            for f in ["os7410/zones.c", "os7410/vmm.c", "init", "packages"] {
                assert!(r.file(f).is_some(), "{name}: {f}");
            }
            assert!(r.cmdline().split(' ').any(|a| a == "oops=panic"), "{name}");
        }
        assert!(!Recipe::find("linux").unwrap().cmdline().contains("oops=panic"));
    }

    #[test]
    fn the_os7410_series_is_ordered_and_turns_bad_at_b4() {
        let s = OS7410_SERIES;
        assert_eq!(s.builds.len(), 6);
        assert_eq!(s.first_bad, "linux-os7410-b4");
        let names: Vec<String> = (1..=6).map(|i| format!("linux-os7410-b{i}")).collect();
        assert_eq!(s.builds, names.iter().map(String::as_str).collect::<Vec<_>>(), "oldest first");
        let bad: Vec<bool> = s.builds.iter().map(|b| s.is_bad(b).unwrap()).collect();
        assert_eq!(bad, [false, false, false, true, true, true]);
        assert_eq!(s.is_bad("linux-os7410-debug"), None);
        let debug = Recipe::find("linux-os7410-debug").unwrap();
        for (b, bad) in s.builds.iter().zip(bad) {
            let r = Recipe::find(b).unwrap_or_else(|| panic!("{b} is not a built-in image"));
            // Built from the debug image, compiling nothing; the answer is on the command line.
            assert_eq!(r.built_from, Some("linux-os7410-debug"), "{b}");
            assert!(r.files().next().is_none() && r.hooks.is_empty() && !r.kernel_headers, "{b}");
            let want = if bad { "vmm.fixed=0" } else { "vmm.fixed=1" };
            assert_eq!(r.cmdline(), format!("{} {want}", debug.cmdline()), "{b}");
            assert!(crate::guest_os::linux::image::known_images().contains(b));
        }
        // The series is named by a case that exists.
        let case = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../testcases/{}.yaml", s.case));
        assert!(case.is_file(), "{}", case.display());
    }

    #[test]
    fn images_are_built_from_images_that_build_themselves() {
        for r in RECIPES.iter().filter(|r| r.built_from.is_some()) {
            let from = Recipe::find(r.built_from.unwrap()).unwrap_or_else(|| panic!("{}: no such image", r.name));
            assert!(from.built_from.is_none(), "{}: built from {}, itself built from another", r.name, from.name);
        }
    }

    #[test]
    fn list_lines_skips_comments() {
        let l: Vec<_> = list_lines("# c\n\nkernel linux-image-amd64 # meta\n busybox-static\n").collect();
        assert_eq!(l, ["kernel linux-image-amd64", "busybox-static"]);
    }
}
