//! Guest profiles: how a guest OS says it is ready, how to reach it and what commands it
//! understands: the contract between a target and the guest channels. Guest differences are
//! data here, not branches in the engine.

use crate::console::stall::StallDialects;
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

/// How a guest says that a boot is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A console line, printed once SSH listens, whose regex's first group is the boot's nonce.
    NonceLine(&'static str),
    /// A login prompt (a regex matched on the unfinished line); the boot's identity is then
    /// read over SSH with the profile's `boot_id_command`, since the prompt is the same on
    /// every boot.
    Prompt(&'static str),
}

impl Ready {
    /// The console regex.
    pub fn pattern(&self) -> &'static str {
        match self {
            Ready::NonceLine(p) | Ready::Prompt(p) => p,
        }
    }
}

/// How the rig talks to one kind of guest (each guest OS's profiles are in its target's file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: &'static str,
    /// How it says a boot is ready.
    pub ready: Ready,
    /// Which serial port is the OS console (0 = the first `-serial`).
    pub console_port: usize,
    /// The SSH user.
    pub ssh_user: &'static str,
    /// Prints the per-boot nonce over SSH.
    pub boot_id_command: &'static str,
    /// Prints CPU identity in `/proc/cpuinfo` form.
    pub cpuinfo_command: &'static str,
    /// Reboots at once (run detached: it never returns).
    pub reboot_command: &'static str,
    /// Panics the kernel on purpose (run detached: it never returns).
    pub panic_command: &'static str,
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
    /// Prints the loaded kernel modules, one per line, each line's first word its name.
    pub modules_command: &'static str,
    /// The module that drives each vendor's virtualization extension (checked loaded by a
    /// `check_cpu` step when the case asks for nesting).
    pub virt_modules: &'static [(Vendor, &'static str)],
    /// A console regex for the guest refusing hardware virtualization (its first group is
    /// quoted in the verdict).
    pub virt_refusal: &'static str,
    /// Prints the guest's system log, where `virt_refusal` is looked for too (a refusal may
    /// be logged only, not printed on the console).
    pub virt_log_command: &'static str,
    /// The kernel tells QEMU of its panics through pvpanic (`GUEST_PANICKED`): panic text on
    /// the console counts only when that follows or the guest stops answering, so a program
    /// printing panic text is not a kernel panic. False: console text alone is taken (the
    /// evidence says the panic was read off the console only).
    pub pvpanic: bool,
    /// The dialects whose stall reports end a wedged boot early (every known OS's).
    pub stall_dialects: StallDialects,
}

impl Profile {
    /// The word `virt_flags_command` prints for this vendor's virtualization extension.
    pub fn virt_flag(&self, vendor: Vendor) -> Option<&'static str> {
        self.virt_flags.iter().find(|(v, _)| *v == vendor).map(|(_, f)| *f)
    }

    /// The module that drives this vendor's virtualization extension.
    pub fn virt_module(&self, vendor: Vendor) -> Option<&'static str> {
        self.virt_modules.iter().find(|(v, _)| *v == vendor).map(|(_, m)| *m)
    }

    /// The reload recipe for a module name.
    pub fn module(&self, name: &str) -> Option<&ModuleReload> {
        self.modules.iter().find(|m| m.name == name)
    }
}
