//! The QEMU machine of a coal headnode: the USB overlay as the IDE boot disk, the zpool on
//! virtio, two e1000 NICs with the answers file's MACs, two serial ports (ttya, ttyb; the OS
//! console is ttyb), the i8254 PIT kept (QEMU's `pc` default; illumos panics without one).
//!
//! Networking, and how SSH reaches the headnode's sshd: each NIC gets its own QEMU user
//! network, shaped like coal's VMware networks so setup's static addresses work unchanged.
//! The admin network is `10.99.99.0/24` with QEMU's host at `10.99.99.254` and `dhcpstart` set
//! to the headnode's admin address `10.99.99.7`: a `hostfwd` without a guest address forwards
//! to `dhcpstart`, so the rig's usual `hostfwd=tcp:127.0.0.1:0-:22` reaches the headnode's
//! sshd at `10.99.99.7:22`, and the port QEMU picked is read from `info usernet` as for any
//! guest. The external network is `10.88.88.0/24`, gateway `10.88.88.2`, DNS `10.88.88.253`
//! (not `.3`: setup's default external provisionable range is `.3`-`.199`, and adminui takes
//! `.3`). The admin DHCP range ends at `.253`, below QEMU's host `.254` (answers.json).
//! Both are `restrict=on`, as every guest's user network is: nothing leaves the host. The network options are applied with
//! `-set netdev.netN.<opt>=...` after the rig's `-netdev user,id=netN` (checked with QEMU 7.2).

use crate::machine::{Accel, Boot, CpuModel, Disk, Forward, MachineSpec, Nic, PanicAction};

use super::answers::{ADMIN_HOST, ADMIN_IP, EXTERNAL_DNS, EXTERNAL_GATEWAY, EXTERNAL_IP};
use super::image::CoalImage;

/// Guest memory a coal headnode needs at least (setup imports ~22 zones).
pub const MIN_MEMORY_MIB: u32 = 6 * 1024;
/// The rig's default for coal.
pub const DEFAULT_MEMORY_MIB: u32 = 8 * 1024;
/// The serial port the OS console (`os_console="ttyb"`) is on: the second one.
pub const OS_CONSOLE_PORT: usize = 1;

/// Per NIC, the user-network options that make QEMU's network look like coal's.
fn usernet_options(i: usize, net: &str, host: &str, dns: Option<&str>, guest: &str) -> Vec<String> {
    let mut opts = vec![format!("net={net}"), format!("host={host}"), format!("dhcpstart={guest}")];
    if let Some(d) = dns {
        opts.push(format!("dns={d}"));
    }
    opts.into_iter().flat_map(|o| ["-set".to_string(), format!("netdev.net{i}.{o}")]).collect()
}

impl CoalImage {
    /// The machine that boots this image. `memory_mib` below [`MIN_MEMORY_MIB`] is taken as
    /// asked (a caller may know better) but setup is unlikely to finish.
    pub fn machine(&self, cpu: &'static CpuModel, accel: Accel, memory_mib: u32, vcpus: u32) -> MachineSpec {
        let mut s = MachineSpec::kernel_boot(cpu, accel, Boot::Disk);
        s.memory_mib = memory_mib;
        s.vcpus = vcpus;
        s.disks = vec![
            Disk { path: self.usb.clone(), format: "qcow2".into(), interface: "ide".into(), read_only: false },
            Disk { path: self.zpool.clone(), format: "qcow2".into(), interface: "virtio".into(), read_only: false },
        ];
        s.nics = vec![
            Nic {
                model: "e1000".into(),
                mac: Some(self.admin_mac.clone()),
                forwards: vec![Forward { host_port: 0, guest_port: 22 }],
            },
            Nic { model: "e1000".into(), mac: Some(self.external_mac.clone()), forwards: vec![] },
        ];
        s.serial_ports = 2;
        // illumos has no pvpanic driver and no vmcoreinfo; panics are read off the console.
        s.pvpanic = false;
        s.panic_action = PanicAction::None;
        s.vmcoreinfo = false;
        s.extra_args = usernet_options(0, "10.99.99.0/24", ADMIN_HOST, None, ADMIN_IP);
        s.extra_args.extend(usernet_options(1, "10.88.88.0/24", EXTERNAL_GATEWAY, Some(EXTERNAL_DNS), EXTERNAL_IP));
        s
    }
}
