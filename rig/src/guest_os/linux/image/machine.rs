//! The machine that boots a built Linux image: direct kernel boot of its kernel and initramfs,
//! with its command line plus the caller's kernel arguments.

use crate::machine::{Accel, Boot, CpuModel, MachineSpec, Shape};

use super::LinuxImage;

impl LinuxImage {
    /// The machine for this image on `cpu`, of `shape`: its memory, vCPUs and
    /// virtualization, and its kernel arguments appended to the image's command line.
    pub fn machine(&self, cpu: &'static CpuModel, accel: Accel, shape: &Shape) -> MachineSpec {
        let mut append = self.cmdline.clone();
        for a in &shape.kernel_args {
            append.push(' ');
            append.push_str(a);
        }
        let boot = Boot::Kernel { kernel: self.kernel.clone(), initrd: self.initrd.clone(), append };
        let mut spec = MachineSpec::kernel_boot(cpu, accel, boot);
        shape.apply(&mut spec);
        spec
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::machine::cpu::lookup;

    fn image() -> LinuxImage {
        LinuxImage {
            name: "linux".into(),
            dir: PathBuf::from("/img"),
            kernel: PathBuf::from("/img/vmlinux"),
            initrd: PathBuf::from("/img/initrd"),
            cmdline: "console=ttyS0".into(),
            client_key: PathBuf::from("/img/key"),
            host_key: PathBuf::from("/img/host_key.pub"),
            manifest: PathBuf::from("/img/manifest.json"),
            kernel_release: "6.1.0-41-amd64".into(),
            module_notes: Vec::new(),
            debug_vmlinux: None,
        }
    }

    #[test]
    fn kernel_args_are_appended_and_the_shape_is_kept() {
        let spec = image().machine(
            lookup("epyc").unwrap(),
            Accel::Tcg,
            &Shape { kernel_args: vec!["panic_on_oops=1".into()], ..Shape::nested(768, 1) },
        );
        let Boot::Kernel { kernel, append, .. } = &spec.boot else { panic!("{:?}", spec.boot) };
        assert_eq!(kernel, &PathBuf::from("/img/vmlinux"));
        assert_eq!(append, "console=ttyS0 panic_on_oops=1");
        assert_eq!((spec.memory_mib, spec.vcpus, spec.nested), (768, 1, true));
        let plain = image().machine(lookup("epyc").unwrap(), Accel::Tcg, &Shape::nested(512, 2));
        assert!(matches!(&plain.boot, Boot::Kernel { append, .. } if append == "console=ttyS0"));
    }
}
