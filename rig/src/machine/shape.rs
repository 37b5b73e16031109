//! The machine a test case asks for, whatever its guest OS: memory, vCPUs, virtualization
//! exposed or hidden, extra kernel arguments. A target turns it into a [`MachineSpec`].

use super::MachineSpec;

/// What a case asks of its guest's machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// SVM/VMX exposed to the guest.
    pub nested: bool,
    /// SVM/VMX hidden from the guest, even where the CPU model has it.
    pub hide_virt: bool,
    /// Extra kernel command-line arguments (direct-boot images).
    pub kernel_args: Vec<String>,
}

impl Shape {
    /// `memory_mib` and `vcpus`, with SVM/VMX exposed and no extra kernel arguments: the
    /// machine of the rig's own probes and benchmarks.
    pub fn nested(memory_mib: u32, vcpus: u32) -> Shape {
        Shape { memory_mib, vcpus, nested: true, hide_virt: false, kernel_args: Vec::new() }
    }

    /// One word for what the guest sees of virtualization: `hidden`, `nested` or `plain`.
    pub fn virt_word(&self) -> &'static str {
        if self.hide_virt {
            "hidden"
        } else if self.nested {
            "nested"
        } else {
            "plain"
        }
    }

    /// Sets the machine's size and virtualization to this shape.
    pub fn apply(&self, spec: &mut MachineSpec) {
        spec.memory_mib = self.memory_mib;
        spec.vcpus = self.vcpus;
        spec.nested = self.nested;
        spec.hide_virt = self.hide_virt;
    }
}
