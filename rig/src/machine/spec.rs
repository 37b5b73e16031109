//! The typed description of a guest machine; `cmdline` turns it into QEMU arguments.

use std::path::PathBuf;

use super::cpu::CpuModel;

/// The accelerator a machine runs under, after `auto` has been resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualization through `/dev/kvm`.
    Kvm,
    /// QEMU's software emulation (slow, but runs anywhere; emulates AMD SVM but not Intel VMX).
    Tcg,
}

/// The translation cache a TCG machine gets, in MiB (`-accel tcg,tb-size=`).
///
/// QEMU 7.2 gives a system emulator up to 1 GiB by default, and a reset does not empty it: the
/// code translated in one boot stays cached while the next boot writes over the memory it came
/// from. Measured on the coal stand-in (6 GiB, 2 vCPUs, a CPU hog on one of 2 host cores), every
/// boot after a guest reset took 45 to 95 s to the login prompt where the first took 31 to 37 s,
/// SYSLINUX's load of the kernel alone up to 73 s instead of 12 s, and some never came up (soft
/// lockups in the kernel's early page allocations). With 64 MiB the cache fills and is flushed
/// within a boot: five reset boots in a row took 31 to 37 s, like the first.
pub const TCG_TB_SIZE_MIB: u32 = 64;

impl Accel {
    /// QEMU's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    /// The `-accel` argument: the name, and for TCG the bounded translation cache.
    pub fn qemu_arg(self) -> String {
        match self {
            Accel::Kvm => "kvm".into(),
            Accel::Tcg => format!("tcg,tb-size={TCG_TB_SIZE_MIB}"),
        }
    }
}

/// How the machine boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Direct kernel boot (`-kernel`, `-initrd`, `-append`).
    Kernel {
        /// The kernel (an uncompressed ELF boots through QEMU's PVH entry).
        kernel: PathBuf,
        /// The initramfs.
        initrd: PathBuf,
        /// The kernel command line.
        append: String,
    },
    /// Firmware boots the first disk (e.g. a SmartOS USB image).
    Disk,
}

/// A disk attached to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The image file.
    pub path: PathBuf,
    /// QEMU's format name (`raw`, `qcow2`).
    pub format: String,
    /// `if=` of `-drive`: `virtio`, `ide`, ...
    pub interface: String,
    /// Opened read-only.
    pub read_only: bool,
}

/// A TCP port of the guest forwarded from the host's loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// Host port on 127.0.0.1; 0 lets the kernel pick a free one (read back over QMP).
    pub host_port: u16,
    /// The guest's port.
    pub guest_port: u16,
}

/// A NIC on QEMU's user-mode network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// QEMU device model (`virtio-net-pci`, `e1000`).
    pub model: String,
    /// A fixed MAC address, when the guest's configuration names one.
    pub mac: Option<String>,
    /// Ports forwarded from the host.
    pub forwards: Vec<Forward>,
}

/// What QEMU does when the guest reports a panic through pvpanic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanicAction {
    /// Stop the vCPUs and keep memory for a dump (the rig's default).
    Pause,
    /// Let the guest handle it (reboot or spin, as its kernel is configured).
    None,
}

/// Everything QEMU needs to know about one guest machine.
#[derive(Debug, Clone)]
pub struct MachineSpec {
    /// The CPU model.
    pub cpu: &'static CpuModel,
    /// Expose the virtualization extension to the guest.
    pub nested: bool,
    /// Hide the virtualization extension from the guest, even where the model has it.
    pub hide_virt: bool,
    /// The accelerator.
    pub accel: Accel,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// How it boots.
    pub boot: Boot,
    /// Disks, in order.
    pub disks: Vec<Disk>,
    /// NICs, in order.
    pub nics: Vec<Nic>,
    /// Number of serial ports (each captured by the rig).
    pub serial_ports: usize,
    /// A pvpanic device, so a guest panic becomes a QMP `GUEST_PANICKED` event.
    pub pvpanic: bool,
    /// What a guest panic does to the machine.
    pub panic_action: PanicAction,
    /// `-device vmcoreinfo`, so host-side dumps carry the kernel's vmcoreinfo.
    pub vmcoreinfo: bool,
    /// A qcow2 file attached to no device, holding saved VM states (`savevm`/`loadvm`) for
    /// snapshot-restore iterations.
    pub state_disk: Option<PathBuf>,
    /// Arguments appended verbatim.
    pub extra_args: Vec<String>,
}

impl MachineSpec {
    /// A direct-kernel-boot machine with the rig's defaults: 2 vCPUs (a race needs real
    /// concurrency), 512 MiB, one virtio NIC forwarding SSH, one serial port, pvpanic pausing.
    pub fn kernel_boot(cpu: &'static CpuModel, accel: Accel, boot: Boot) -> Self {
        MachineSpec {
            cpu,
            nested: true,
            hide_virt: false,
            accel,
            memory_mib: 512,
            vcpus: 2,
            boot,
            disks: Vec::new(),
            nics: vec![Nic {
                model: "virtio-net-pci".into(),
                mac: None,
                forwards: vec![Forward { host_port: 0, guest_port: 22 }],
            }],
            serial_ports: 1,
            pvpanic: true,
            panic_action: PanicAction::Pause,
            vmcoreinfo: true,
            state_disk: None,
            extra_args: Vec::new(),
        }
    }
}
