//! Guest profiles: how a guest OS says it is ready, how to reach it and what commands it
//! understands. Guest differences are data here, not branches in the engine.

pub use crate::engine::after_panic::AfterPanic;
use crate::machine::Vendor;

/// How one module is forcibly unloaded and loaded again. `{kvm_vendor}` in a command stands for
/// the CPU vendor's KVM module (`kvm_amd` or `kvm_intel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleReload {
    /// The name a test case uses (`reload_module: vmm`).
    pub name: &'static str,
    /// Unloads it (may fail when the module is busy; the reload goes on with the load).
    pub unload: &'static str,
    /// Words in a failed unload's output that mean "busy" (what a case's `unload_busy` is
    /// about); any other failure is a failure.
    pub busy: &'static [&'static str],
    /// Words in a failed unload's output that mean the module was not loaded (another reloader
    /// got there first): counted apart, neither a success nor a failure.
    pub absent: &'static [&'static str],
    /// Loads it.
    pub load: &'static str,
    /// Lets it unload even once it is in use (run once per boot when a case asks to free
    /// the module; empty when the guest needs nothing).
    pub free: &'static str,
}

impl ModuleReload {
    /// The shell command for one reload on a guest with this CPU vendor (statuses unchecked:
    /// the engine runs [`Self::unload_command`] and [`Self::load_command`] apart).
    pub fn command(&self, vendor: Vendor) -> String {
        format!("{}; {}", self.unload_command(vendor), self.load_command(vendor))
    }

    /// The unload command on a guest with this CPU vendor.
    pub fn unload_command(&self, vendor: Vendor) -> String {
        self.unload.replace("{kvm_vendor}", vendor.kvm_module().unwrap_or("kvm_amd"))
    }

    /// The load command on a guest with this CPU vendor.
    pub fn load_command(&self, vendor: Vendor) -> String {
        self.load.replace("{kvm_vendor}", vendor.kvm_module().unwrap_or("kvm_amd"))
    }
}

/// How a guest lists, halts and boots its zones (`{zone}` stands for one zone's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneCommands {
    /// Prints the running zones, one per line.
    pub running: &'static str,
    /// Prints the halted zones, one per line.
    pub halted: &'static str,
    /// Halts `{zone}` (forcibly: a test wants the shutdown, not a clean service stop).
    pub halt: &'static str,
    /// Boots `{zone}`.
    pub boot: &'static str,
}

impl ZoneCommands {
    /// Halts up to `n` running zones (all when `None`) at once and waits for them.
    pub fn halt_command(&self, n: Option<u32>) -> String {
        let list = match n {
            Some(n) => format!("{} | head -{n}", self.running),
            None => self.running.to_string(),
        };
        format!("for zone in $({list}); do {} & done; wait", self.halt.replace("{zone}", "$zone"))
    }

    /// Boots every halted zone at once and waits for them.
    pub fn boot_command(&self) -> String {
        format!("for zone in $({}); do {} & done; wait", self.halted, self.boot.replace("{zone}", "$zone"))
    }
}

/// How the rig talks to one kind of guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: &'static str,
    /// A console regex whose first group is the per-boot nonce, printed once the guest is ready.
    pub ready_pattern: &'static str,
    /// The ready pattern is a prompt that does not end its line (matched on the unfinished line).
    pub ready_is_prompt: bool,
    /// Which serial port is the OS console (0 = the first `-serial`).
    pub console_port: usize,
    /// The ready pattern's capture is the same on every boot: the boot's identity comes from
    /// `boot_id_command` over SSH instead.
    pub boot_id_over_ssh: bool,
    /// The SSH user.
    pub ssh_user: &'static str,
    /// Prints the per-boot nonce over SSH.
    pub boot_id_command: &'static str,
    /// Prints CPU identity in `/proc/cpuinfo` form.
    pub cpuinfo_command: &'static str,
    /// Reboots at once (run detached: it never returns).
    pub reboot_command: &'static str,
    /// A panic may stop at kmdb's prompt: answer `:c` so the dump gets written.
    pub answers_kmdb: bool,
    /// What the guest does after a panic that the rig waits for (its own dump).
    pub after_panic: AfterPanic,
    /// Sleeps `{ms}` milliseconds in the guest's shell (`{ms}` is an arithmetic expression).
    pub sleep_ms: &'static str,
    /// Modules a test case may reload.
    pub modules: &'static [ModuleReload],
    /// Zones, for `halt_zones`/`boot_zones` steps (none on Linux).
    pub zones: Option<ZoneCommands>,
    /// Makes module loads and unloads show on the console (a case's `modules.debug`; empty
    /// when the guest has no such switch).
    pub module_debug: &'static str,
    /// Prints the CPU features the guest sees, as words (checked against the case's
    /// `nested`/`hide_virt` once per boot).
    pub virt_flags_command: &'static str,
    /// The word `virt_flags_command` prints for each vendor's virtualization extension.
    pub virt_flags: &'static [(Vendor, &'static str)],
    /// A console regex for the guest refusing hardware virtualization (its first group is
    /// quoted in the verdict).
    pub virt_refusal: &'static str,
    /// Prints the guest's system log, where `virt_refusal` is looked for too (a refusal may
    /// be logged only, not printed on the console).
    pub virt_log_command: &'static str,
    /// Makes a panic go straight to its dump instead of stopping at a loaded debugger, run
    /// after each fresh boot (empty when the guest has no such switch).
    pub no_panic_debugger: &'static str,
}

impl Profile {
    /// The word `virt_flags_command` prints for this vendor's virtualization extension.
    pub fn virt_flag(&self, vendor: Vendor) -> Option<&'static str> {
        self.virt_flags.iter().find(|(v, _)| *v == vendor).map(|(_, f)| *f)
    }

    /// The reload recipe for a module name.
    pub fn module(&self, name: &str) -> Option<&ModuleReload> {
        self.modules.iter().find(|m| m.name == name)
    }
}

/// What Linux's rmmod says when a module is in use: kmod's "is in use", busybox's strerror of
/// `EBUSY`/`EWOULDBLOCK` from `delete_module`.
const LINUX_BUSY: &[&str] = &["in use", "Device or resource busy", "Resource temporarily unavailable"];
/// What it says when the module is not loaded (kmod, busybox's strerror of `ENOENT`).
const LINUX_ABSENT: &[&str] = &["not currently loaded", "No such file or directory"];

const fn linux_module(name: &'static str, unload: &'static str, load: &'static str) -> ModuleReload {
    ModuleReload { name, unload, busy: LINUX_BUSY, absent: LINUX_ABSENT, load, free: "" }
}

/// The embedded default Linux guest: its init prints `RIG-READY boot_id=<uuid>` when dropbear
/// listens. `vmm` is the virtualization module of the CPU's vendor, as on illumos.
pub const LINUX: Profile = Profile {
    name: "linux",
    ready_pattern: r"RIG-READY boot_id=([0-9a-fA-F-]+)",
    ready_is_prompt: false,
    console_port: 0,
    boot_id_over_ssh: false,
    ssh_user: "root",
    boot_id_command: "cat /proc/sys/kernel/random/boot_id",
    cpuinfo_command: "cat /proc/cpuinfo",
    reboot_command: "reboot -f",
    answers_kmdb: false,
    after_panic: AfterPanic::Kill,
    sleep_ms: "usleep $(( ({ms}) * 1000 ))",
    zones: None,
    module_debug: "",
    virt_flags_command: "grep -m1 '^flags' /proc/cpuinfo",
    virt_flags: &[(Vendor::Amd, "svm"), (Vendor::Intel, "vmx")],
    virt_refusal: r"(kvm(?:_amd|_intel)?: .*(?:not supported|no hardware support|disabled by bios).*)",
    virt_log_command: "dmesg",
    no_panic_debugger: "",
    modules: &[
        linux_module("vmm", "rmmod {kvm_vendor}", "modprobe {kvm_vendor}"),
        linux_module("kvm_amd", "rmmod kvm_amd", "modprobe kvm_amd"),
        linux_module("kvm_intel", "rmmod kvm_intel", "modprobe kvm_intel"),
        linux_module("kvm", "rmmod {kvm_vendor} kvm", "modprobe {kvm_vendor}"),
    ],
};

/// The default guest with the OS-7410 fixture: `vmm` is the miniature vmm module.
pub const LINUX_OS7410: Profile = Profile {
    name: "linux-os7410",
    modules: &[
        linux_module("vmm", "rmmod vmm", "modprobe vmm"),
        linux_module("kvm_amd", "rmmod kvm_amd", "modprobe kvm_amd"),
        linux_module("kvm_intel", "rmmod kvm_intel", "modprobe kvm_intel"),
    ],
    ..LINUX
};

/// The default guest built with kdump (`linux-kdump`): after a panic it boots a capture
/// kernel, and the rig copies `/proc/vmcore` out.
pub const LINUX_KDUMP: Profile = Profile { name: "linux-kdump", after_panic: AfterPanic::Kdump, ..LINUX };

/// A SmartOS (illumos) guest, from `../shared/docs/smartos-coal.md`. vmm's module id changes
/// with every load, so the unload looks it up with `modinfo` first.
///
/// Readiness: the serial login prompt (on ttyb, without a line end), then SSH; the boot's
/// identity is its boot time from `kstat`, read over SSH. coal's setup boot prints the prompt
/// *before* setup's lines, so it is ready at `==> Setup complete` instead
/// ([`crate::coal::first_boot`]).
pub const ILLUMOS: Profile = Profile {
    name: "illumos",
    ready_pattern: r"(\S+ console login:)",
    ready_is_prompt: true,
    // coal's OS console is ttyb, the second serial port.
    console_port: 1,
    boot_id_over_ssh: true,
    ssh_user: "root",
    boot_id_command: "kstat -p unix:0:system_misc:boot_time | awk '{print $2}'",
    cpuinfo_command: "psrinfo -vp",
    reboot_command: "reboot",
    answers_kmdb: true,
    after_panic: AfterPanic::Savecore,
    // ksh93's sleep takes fractions of a second; illumos has no usleep.
    sleep_ms: "ms=$(( {ms} )); sleep $((ms / 1000)).$(printf %03d $((ms % 1000)))",
    // moddebug 0x80000000 prints a console line at every module load and unload.
    // SmartOS manages zones with vmadm (zoneadm works too, but vmadm is what operators use).
    zones: Some(ZoneCommands {
        running: "vmadm list -H -o uuid state=running",
        halted: "vmadm list -H -o uuid state=stopped",
        halt: "vmadm stop {zone} -F",
        boot: "vmadm start {zone}",
    }),
    module_debug: "echo 'moddebug/W 80000000' | mdb -kw",
    virt_flags_command: "isainfo -v",
    // illumos names the hardware capabilities after <sys/auxv_386.h>: amd_svm, vmx.
    virt_flags: &[(Vendor::Amd, "amd_svm"), (Vendor::Intel, "vmx")],
    virt_refusal: r"(hma_(?:svm|vmx)_init: .*)",
    // Current illumos logs hma's refusal only (`cmn_err(CE_NOTE, "!hma_svm_init: %s")`,
    // illumos-gate `usr/src/uts/intel/os/hma.c`); older platforms printed it on the console.
    virt_log_command: "cat /var/adm/messages 2>/dev/null || dmesg",
    // `nopanicdebug` is a kernel variable (illumos-gate `usr/src/uts/common/os/panic.c`), not a
    // boot property: with kmdb loaded every panic stops at `[N]>` unless it is set at run time.
    no_panic_debugger: "echo 'nopanicdebug/W 1' | mdb -kw",
    modules: &[ModuleReload {
        name: "vmm",
        unload: "id=$(modinfo | awk '$6 == \"vmm\" {print $1}'); [ -n \"$id\" ] || { echo 'vmm is not loaded' >&2; exit 1; }; modunload -i $id",
        // modunload prints `can't unload the module: Device busy` and exits with EBUSY (16)
        // (illumos-gate usr/src/cmd/modload/modunload.c, error() in modsubr.c).
        busy: &["Device busy"],
        // An id gone between modinfo and modunload is EINVAL.
        absent: &["vmm is not loaded", "Invalid argument"],
        // vmm is installed under /usr/kernel/drv/amd64 (illumos-gate usr/src/uts/i86pc/vmm/Makefile:
        // ROOTMODULE is $(USR_DRV_DIR)/$(MODULE)), not /kernel/drv/amd64. `-p` hands the name to
        // the kernel, which searches the module path (illumos-gate usr/src/cmd/modload/modload.c),
        // so the load does not depend on where the platform put it.
        load: "modload -p drv/vmm",
        // An attached vmm's sdev plugin refuses to unregister (`Device busy`) unless this is 1.
        free: "echo 'sdev_plugin_unregister_allowed/W 1' | mdb -kw",
    }],
};

/// The profile of an image, by the image's name.
pub fn for_image(image: &str) -> Option<&'static Profile> {
    if image == "coal" || image.starts_with("coal-") || image.starts_with("smartos") {
        return Some(&ILLUMOS);
    }
    let user_kernel =
        image.strip_prefix("linux-").is_some_and(|n| crate::image::user_kernel::image_name("linux", n).is_ok());
    if !crate::image::known_images().contains(&image) && !user_kernel {
        return None;
    }
    Some(if image.starts_with("linux-os7410") {
        &LINUX_OS7410
    } else if image == "linux-kdump" {
        &LINUX_KDUMP
    } else {
        &LINUX
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Pattern;

    #[test]
    fn linux_ready_pattern_captures_the_boot_id() {
        let p = Pattern::regex(LINUX.ready_pattern).unwrap();
        assert_eq!(
            p.find("RIG-READY boot_id=0f6c1d2e-77aa-4bd1-9a51-3c1b7d0e9f00").as_deref(),
            Some("0f6c1d2e-77aa-4bd1-9a51-3c1b7d0e9f00")
        );
    }

    #[test]
    fn vmm_means_the_vendors_kvm_module_on_stock_linux() {
        let m = LINUX.module("vmm").unwrap();
        assert_eq!(m.command(Vendor::Amd), "rmmod kvm_amd; modprobe kvm_amd");
        assert_eq!(m.command(Vendor::Intel), "rmmod kvm_intel; modprobe kvm_intel");
        assert_eq!(LINUX_OS7410.module("vmm").unwrap().command(Vendor::Amd), "rmmod vmm; modprobe vmm");
        assert!(LINUX.module("zfs").is_none());
    }

    #[test]
    fn illumos_is_ready_at_its_login_prompt_on_ttyb() {
        let p = for_image("coal").unwrap();
        assert_eq!((p.name, p.console_port, p.ready_is_prompt), ("illumos", 1, true));
        assert_eq!(for_image("coal-0123456789abcdef").unwrap().name, "illumos");
        let ready = Pattern::regex(p.ready_pattern).unwrap();
        assert_eq!(ready.find("headnode console login: ").as_deref(), Some("headnode console login:"));
        assert_eq!(LINUX.console_port, 0);
    }

    #[test]
    fn illumos_zone_commands() {
        let z = ILLUMOS.zones.as_ref().unwrap();
        assert_eq!(
            z.halt_command(Some(4)),
            "for zone in $(vmadm list -H -o uuid state=running | head -4); do vmadm stop $zone -F & done; wait"
        );
        assert_eq!(
            z.halt_command(None),
            "for zone in $(vmadm list -H -o uuid state=running); do vmadm stop $zone -F & done; wait"
        );
        assert_eq!(
            z.boot_command(),
            "for zone in $(vmadm list -H -o uuid state=stopped); do vmadm start $zone & done; wait"
        );
        assert!(LINUX.zones.is_none());
    }

    #[test]
    fn illumos_loads_vmm_wherever_the_platform_put_it() {
        let vmm = ILLUMOS.module("vmm").unwrap();
        assert_eq!(vmm.load_command(Vendor::Amd), "modload -p drv/vmm");
        assert!(!vmm.command(Vendor::Amd).contains("/kernel/drv/amd64/vmm"));
    }

    #[test]
    fn images_map_to_profiles() {
        assert_eq!(for_image("linux").unwrap().name, "linux");
        assert!(for_image("nonesuch").is_none());
    }
}
