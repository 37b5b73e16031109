//! What the rig needs from a user's Linux kernel, read from its `.config` before any boot:
//! what it cannot boot without (refused with the list), and what only some features need
//! (said, with what still works). Pure.

use std::collections::HashMap;

/// How an option must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// `=y`.
    BuiltIn,
    /// `=y` or `=m` (the image carries the module; init loads it).
    Present,
    /// Not set (`# CONFIG_X is not set` or absent).
    Unset,
}

/// One thing the rig needs of a kernel.
struct Requirement {
    /// One of these options set as `need` satisfies it.
    any_of: &'static [&'static str],
    need: Need,
    /// What depends on it.
    why: &'static str,
}

const fn req(any_of: &'static [&'static str], need: Need, why: &'static str) -> Requirement {
    Requirement { any_of, need, why }
}

/// Without these the guest cannot boot into the rig's userland or be reached.
const REQUIRED: &[Requirement] = &[
    req(&["CONFIG_64BIT"], Need::BuiltIn, "the rig boots x86-64 guests"),
    req(&["CONFIG_PVH"], Need::BuiltIn, "the rig boots the kernel's ELF image through its PVH entry (-kernel vmlinux)"),
    req(
        &["CONFIG_KERNEL_XZ"],
        Need::BuiltIn,
        "the rig takes the ELF out of an XZ-compressed bzImage (other compressions are not read yet)",
    ),
    req(&["CONFIG_SERIAL_8250_CONSOLE"], Need::BuiltIn, "the console on ttyS0 carries the boot marker and every panic"),
    req(&["CONFIG_BLK_DEV_INITRD"], Need::BuiltIn, "the guest's userland is an initramfs"),
    req(&["CONFIG_RD_GZIP"], Need::BuiltIn, "the initramfs is gzip-compressed"),
    req(&["CONFIG_DEVTMPFS"], Need::BuiltIn, "init mounts devtmpfs on /dev (there is no udev)"),
    req(&["CONFIG_UNIX"], Need::BuiltIn, "the SSH server needs Unix sockets"),
    req(&["CONFIG_INET"], Need::BuiltIn, "SSH reaches the guest over TCP/IP"),
    req(&["CONFIG_VIRTIO_PCI"], Need::Present, "the guest's NIC is virtio-net-pci"),
    req(&["CONFIG_VIRTIO_NET"], Need::Present, "SSH reaches the guest through virtio-net"),
    req(&["CONFIG_MODULES"], Need::BuiltIn, "init loads drivers as modules"),
    req(
        &["CONFIG_MODULE_COMPRESS_XZ", "CONFIG_MODULE_COMPRESS_ZSTD", "CONFIG_MODULE_COMPRESS_GZIP"],
        Need::Unset,
        "the guest's busybox modprobe loads plain .ko files (build with CONFIG_MODULE_COMPRESS_NONE)",
    ),
];

/// Without these the rig still runs, with less.
const OPTIONAL: &[Requirement] = &[
    req(
        &["CONFIG_PVPANIC_MMIO"],
        Need::Present,
        "pvpanic: without it a panic is read from the console only and the guest is not paused at the panic for its dump",
    ),
    req(
        &["CONFIG_KVM_AMD"],
        Need::Present,
        "kvm_amd: module reload cases on AMD models (kvm-reload-*) and nested guests",
    ),
    req(&["CONFIG_KVM_INTEL"], Need::Present, "kvm_intel: module reload cases on Intel models and nested guests"),
    req(
        &["CONFIG_MAGIC_SYSRQ"],
        Need::BuiltIn,
        "sysrq: cases that panic the guest with `echo c > /proc/sysrq-trigger`",
    ),
    req(
        &["CONFIG_FW_CFG_SYSFS"],
        Need::Present,
        "qemu_fw_cfg: the vmcoreinfo note `crash` uses to read host-side dumps",
    ),
    req(&["CONFIG_KEXEC_FILE"], Need::BuiltIn, "kexec_file_load: in-guest kdump (`after_panic: kdump`)"),
    req(&["CONFIG_CRASH_DUMP"], Need::BuiltIn, "the kdump capture kernel (`after_panic: kdump`)"),
];

/// One unmet requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The options, as the requirement names them (`CONFIG_PVH` or `CONFIG_A or CONFIG_B`).
    pub options: String,
    /// What the kernel has: `=m`, `not set`.
    pub found: String,
    /// What wants it.
    pub why: &'static str,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.options, self.found, self.why)
    }
}

/// What a kernel's configuration allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigCheck {
    /// Unmet requirements the rig cannot do without.
    pub missing: Vec<Finding>,
    /// Unmet requirements of some features only.
    pub degraded: Vec<Finding>,
}

impl ConfigCheck {
    /// Whether the kernel can boot into the rig.
    pub fn bootable(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Reads `CONFIG_X=value` lines (a `.config`, `/proc/config.gz` unpacked, `/boot/config-*`).
fn parse(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.starts_with("CONFIG_"))
        .map(|(k, v)| (k, v.trim_matches('"')))
        .collect()
}

fn unmet(r: &Requirement, config: &HashMap<&str, &str>) -> Option<Finding> {
    let value = |o: &str| config.get(o).copied();
    let met = match r.need {
        Need::BuiltIn => r.any_of.iter().any(|o| value(o) == Some("y")),
        Need::Present => r.any_of.iter().any(|o| matches!(value(o), Some("y" | "m"))),
        Need::Unset => r.any_of.iter().all(|o| matches!(value(o), None | Some("n"))),
    };
    if met {
        return None;
    }
    let found = match r.need {
        Need::Unset => {
            r.any_of.iter().filter(|o| value(o).is_some()).map(|o| format!("{o} set")).collect::<Vec<_>>().join(", ")
        }
        _ => match r.any_of.iter().find_map(|o| value(o)) {
            Some(v) => format!("={v}"),
            None => "not set".into(),
        },
    };
    let want = match r.need {
        Need::BuiltIn => "=y",
        Need::Present => "=y or =m",
        Need::Unset => "unset",
    };
    Some(Finding { options: format!("{} {want}", r.any_of.join(" or ")), found, why: r.why })
}

/// Checks a kernel configuration against what the rig needs; `elf`: the kernel comes as an ELF
/// vmlinux, booted as it is (its compression does not matter).
pub fn check(config_text: &str, elf: bool) -> ConfigCheck {
    let config = parse(config_text);
    ConfigCheck {
        missing: REQUIRED
            .iter()
            .filter(|r| !(elf && r.any_of == ["CONFIG_KERNEL_XZ"]))
            .filter_map(|r| unmet(r, &config))
            .collect(),
        degraded: OPTIONAL.iter().filter_map(|r| unmet(r, &config)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the rig needs, as Debian's 6.1 amd64 kernel sets it.
    const GOOD: &str = "CONFIG_64BIT=y\nCONFIG_PVH=y\nCONFIG_KERNEL_XZ=y\nCONFIG_SERIAL_8250_CONSOLE=y\n\
        CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_DEVTMPFS=y\nCONFIG_UNIX=y\nCONFIG_INET=y\n\
        CONFIG_VIRTIO_PCI=m\nCONFIG_VIRTIO_NET=m\nCONFIG_MODULES=y\n# CONFIG_MODULE_COMPRESS_XZ is not set\n\
        CONFIG_MODULE_COMPRESS_NONE=y\nCONFIG_PVPANIC_MMIO=m\nCONFIG_KVM_AMD=m\nCONFIG_KVM_INTEL=m\n\
        CONFIG_MAGIC_SYSRQ=y\nCONFIG_FW_CFG_SYSFS=m\nCONFIG_KEXEC_FILE=y\nCONFIG_CRASH_DUMP=y\n";

    #[test]
    fn a_debian_like_config_has_everything() {
        assert_eq!(check(GOOD, false), ConfigCheck::default());
    }

    #[test]
    fn a_config_without_a_serial_console_is_refused_naming_why() {
        let c =
            check(&GOOD.replace("CONFIG_SERIAL_8250_CONSOLE=y\n", "# CONFIG_SERIAL_8250_CONSOLE is not set\n"), false);
        assert!(!c.bootable());
        assert_eq!(c.missing.len(), 1, "{c:?}");
        assert_eq!(
            c.missing[0].to_string(),
            "CONFIG_SERIAL_8250_CONSOLE =y (not set): the console on ttyS0 carries the boot marker and every panic"
        );
    }

    #[test]
    fn a_module_where_built_in_is_needed_and_compressed_modules_are_refused() {
        let c = check(
            &GOOD.replace("CONFIG_PVH=y", "CONFIG_PVH=m").replace(
                "# CONFIG_MODULE_COMPRESS_XZ is not set\nCONFIG_MODULE_COMPRESS_NONE=y",
                "CONFIG_MODULE_COMPRESS_ZSTD=y",
            ),
            false,
        );
        let said: Vec<String> = c.missing.iter().map(|f| format!("{} ({})", f.options, f.found)).collect();
        assert_eq!(
            said,
            [
                "CONFIG_PVH =y (=m)",
                "CONFIG_MODULE_COMPRESS_XZ or CONFIG_MODULE_COMPRESS_ZSTD or CONFIG_MODULE_COMPRESS_GZIP unset (CONFIG_MODULE_COMPRESS_ZSTD set)"
            ]
        );
    }

    #[test]
    fn missing_features_degrade_and_say_what_still_works() {
        let c = check(
            &GOOD.replace("CONFIG_PVPANIC_MMIO=m\n", "").replace("CONFIG_KVM_INTEL=m", "CONFIG_KVM_INTEL=n"),
            false,
        );
        assert!(c.bootable());
        let opts: Vec<&str> = c.degraded.iter().map(|f| f.options.as_str()).collect();
        assert_eq!(opts, ["CONFIG_PVPANIC_MMIO =y or =m", "CONFIG_KVM_INTEL =y or =m"]);
        assert!(c.degraded[0].why.contains("read from the console only"));
    }

    #[test]
    fn an_empty_or_foreign_file_misses_everything() {
        let c = check("not a kernel config\n", false);
        assert_eq!(c.missing.len(), REQUIRED.len() - 1, "all but the compression one (nothing set): {c:?}");
        let elf = check("not a kernel config\n", true);
        assert_eq!(elf.missing.len(), REQUIRED.len() - 2, "an ELF kernel needs no XZ: {elf:?}");
    }
}
