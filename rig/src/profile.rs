//! Guest profiles: how a guest OS says it is ready, how to reach it and what commands it
//! understands. Guest differences are data here, not branches in the engine.

/// How the rig talks to one kind of guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: &'static str,
    /// A console regex whose first group is the per-boot nonce, printed once the guest is ready.
    pub ready_pattern: &'static str,
    /// The SSH user.
    pub ssh_user: &'static str,
    /// Prints the per-boot nonce over SSH.
    pub boot_id_command: &'static str,
    /// Prints CPU identity in `/proc/cpuinfo` form.
    pub cpuinfo_command: &'static str,
    /// Reboots at once (run detached: it never returns).
    pub reboot_command: &'static str,
}

/// The embedded default Linux guest: its init prints `RIG-READY boot_id=<uuid>` when dropbear
/// listens.
pub const LINUX: Profile = Profile {
    name: "linux",
    ready_pattern: r"RIG-READY boot_id=([0-9a-fA-F-]+)",
    ssh_user: "root",
    boot_id_command: "cat /proc/sys/kernel/random/boot_id",
    cpuinfo_command: "cat /proc/cpuinfo",
    reboot_command: "reboot -f",
};

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
}
