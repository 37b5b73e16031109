//! Turns a [`MachineSpec`] into QEMU's command line. Pure: no I/O, unit-tested on its own.

use std::os::fd::RawFd;

use super::spec::{Boot, MachineSpec, PanicAction};

/// The file descriptors of the rig's ends of the QMP and serial channels, inherited by QEMU.
/// Passing connected sockets avoids socket paths (length limits, races, stale files) and
/// guarantees the rig sees every byte from the first one.
#[derive(Debug, Clone)]
pub struct ChannelFds {
    /// QEMU's end of the QMP socket pair. Without one QEMU starts running at once (no `-S`).
    pub qmp: Option<RawFd>,
    /// QEMU's ends of the serial socket pairs, one per serial port.
    pub serials: Vec<RawFd>,
}

/// Builds the argument list (without the program name).
pub fn qemu_args(spec: &MachineSpec, fds: &ChannelFds) -> Vec<String> {
    assert_eq!(fds.serials.len(), spec.serial_ports, "one fd per serial port");
    let mut a: Vec<String> = Vec::new();
    let mut push = |args: &[&str]| a.extend(args.iter().map(|s| s.to_string()));

    push(&["-nodefaults", "-no-user-config", "-display", "none"]);
    push(&["-M", "pc", "-accel", &spec.accel.qemu_arg()]);
    // TCG drops the flags it cannot emulate with a warning; never add `enforce`.
    push(&["-cpu", &spec.cpu.qemu_arg(spec.nested, spec.hide_virt)]);
    push(&["-m", &spec.memory_mib.to_string(), "-smp", &spec.vcpus.to_string()]);

    match &spec.boot {
        Boot::Kernel { kernel, initrd, append } => {
            push(&["-kernel", &kernel.display().to_string()]);
            push(&["-initrd", &initrd.display().to_string()]);
            push(&["-append", append]);
        }
        Boot::Disk => push(&["-boot", "order=c"]),
    }
    for (i, d) in spec.disks.iter().enumerate() {
        let mut drive = format!("file={},format={},if={},index={i}", d.path.display(), d.format, d.interface);
        if d.read_only {
            drive.push_str(",readonly=on");
        }
        push(&["-drive", &drive]);
    }
    if let Some(state) = &spec.state_disk {
        push(&["-drive", &format!("if=none,id=rigstate,file={},format=qcow2", state.display())]);
    }
    for (i, nic) in spec.nics.iter().enumerate() {
        // `restrict=on`: the guest reaches nothing beyond its forwarded ports (no host
        // services, no outside network); no guest the rig boots needs more.
        let mut netdev = format!("user,id=net{i},restrict=on");
        for f in &nic.forwards {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{}-:{}", f.host_port, f.guest_port));
        }
        push(&["-netdev", &netdev]);
        let mut dev = format!("{},netdev=net{i}", nic.model);
        if let Some(mac) = &nic.mac {
            dev.push_str(&format!(",mac={mac}"));
        }
        push(&["-device", &dev]);
    }
    for (i, fd) in fds.serials.iter().enumerate() {
        push(&["-chardev", &format!("socket,id=serial{i},fd={fd}")]);
        push(&["-serial", &format!("chardev:serial{i}")]);
    }
    if let Some(qmp) = fds.qmp {
        push(&["-chardev", &format!("socket,id=qmp,fd={qmp}")]);
        push(&["-mon", "chardev=qmp,mode=control"]);
    }
    if spec.pvpanic {
        push(&["-device", "pvpanic"]);
        if spec.panic_action == PanicAction::Pause {
            push(&["-action", "panic=pause"]);
        }
    }
    if spec.vmcoreinfo {
        push(&["-device", "vmcoreinfo"]);
    }
    if fds.qmp.is_some() {
        // Start paused: the rig attaches to QMP, then sends `cont`, so no event is missed.
        push(&["-S"]);
    }
    a.extend(spec.extra_args.iter().cloned());
    a
}

/// Renders arguments as a shell command line a user can paste (for the run directory).
pub fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string()).chain(args.iter().map(|a| shell_quote(a))).collect::<Vec<_>>().join(" ")
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_=,.:/+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::lookup;
    use crate::machine::spec::{Accel, Disk, MachineSpec};

    fn spec() -> MachineSpec {
        MachineSpec::kernel_boot(
            lookup("epyc").unwrap(),
            Accel::Tcg,
            Boot::Kernel {
                kernel: "/img/vmlinux".into(),
                initrd: "/img/initrd.gz".into(),
                append: "console=ttyS0 quiet".into(),
            },
        )
    }

    fn fds() -> ChannelFds {
        ChannelFds { qmp: Some(7), serials: vec![9] }
    }

    fn has_pair(a: &[String], flag: &str, value: &str) -> bool {
        a.windows(2).any(|w| w[0] == flag && w[1] == value)
    }

    #[test]
    fn epyc_tcg_kernel_boot() {
        let a = qemu_args(&spec(), &fds());
        assert!(has_pair(&a, "-accel", "tcg,tb-size=64"));
        assert!(has_pair(&a, "-cpu", "EPYC,+svm,+npt,+nrip-save"));
        assert!(has_pair(&a, "-smp", "2"));
        assert!(has_pair(&a, "-m", "512"));
        assert!(has_pair(&a, "-kernel", "/img/vmlinux"));
        assert!(has_pair(&a, "-append", "console=ttyS0 quiet"));
        assert!(has_pair(&a, "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:0-:22"));
        assert!(has_pair(&a, "-device", "virtio-net-pci,netdev=net0"));
        assert!(has_pair(&a, "-chardev", "socket,id=serial0,fd=9"));
        assert!(has_pair(&a, "-serial", "chardev:serial0"));
        assert!(has_pair(&a, "-chardev", "socket,id=qmp,fd=7"));
        assert!(has_pair(&a, "-mon", "chardev=qmp,mode=control"));
        assert!(has_pair(&a, "-device", "pvpanic"));
        assert!(has_pair(&a, "-action", "panic=pause"));
        assert!(a.contains(&"-S".to_string()));
        assert!(!a.iter().any(|x| x.contains("enforce")));
    }

    #[test]
    fn nested_off_and_no_pvpanic() {
        let mut s = spec();
        s.nested = false;
        s.pvpanic = false;
        let a = qemu_args(&s, &fds());
        assert!(has_pair(&a, "-cpu", "EPYC"));
        assert!(!a.iter().any(|x| x == "pvpanic" || x == "panic=pause"));
    }

    #[test]
    fn two_serials_disks_and_macs() {
        let mut s = spec();
        s.boot = Boot::Disk;
        s.serial_ports = 2;
        s.disks.push(Disk {
            path: "/x/usb.qcow2".into(),
            format: "qcow2".into(),
            interface: "ide".into(),
            read_only: false,
        });
        s.disks.push(Disk {
            path: "/x/zpool.qcow2".into(),
            format: "qcow2".into(),
            interface: "virtio".into(),
            read_only: true,
        });
        s.nics[0].mac = Some("00:50:56:34:60:4c".into());
        let a = qemu_args(&s, &ChannelFds { qmp: Some(3), serials: vec![4, 5] });
        assert!(has_pair(&a, "-drive", "file=/x/usb.qcow2,format=qcow2,if=ide,index=0"));
        assert!(has_pair(&a, "-drive", "file=/x/zpool.qcow2,format=qcow2,if=virtio,index=1,readonly=on"));
        assert!(has_pair(&a, "-serial", "chardev:serial1"));
        assert!(has_pair(&a, "-device", "virtio-net-pci,netdev=net0,mac=00:50:56:34:60:4c"));
        assert!(!a.contains(&"-kernel".to_string()));
    }

    #[test]
    fn without_qmp_nothing_waits_for_a_monitor() {
        let mut s = spec();
        s.serial_ports = 0;
        let a = qemu_args(&s, &ChannelFds { qmp: None, serials: vec![] });
        assert!(!a.iter().any(|x| x == "-S" || x == "-mon" || x.contains("id=qmp")));
    }

    #[test]
    fn snapshot_state_disk_is_attached_to_no_device() {
        let mut s = spec();
        s.state_disk = Some("/run/x/state.qcow2".into());
        let a = qemu_args(&s, &fds());
        assert!(has_pair(&a, "-drive", "if=none,id=rigstate,file=/run/x/state.qcow2,format=qcow2"));
    }

    #[test]
    fn kvm_host_model() {
        let mut s = spec();
        s.accel = Accel::Kvm;
        s.cpu = lookup("host").unwrap();
        let a = qemu_args(&s, &fds());
        assert!(has_pair(&a, "-accel", "kvm"));
        assert!(has_pair(&a, "-cpu", "host"));
    }

    #[test]
    fn shell_line_quotes_what_needs_it() {
        let l = shell_line("qemu", &["-append".into(), "console=ttyS0 quiet".into(), "it's".into()]);
        assert_eq!(l, r#"qemu -append 'console=ttyS0 quiet' 'it'\''s'"#);
    }
}
