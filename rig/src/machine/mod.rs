//! The guest machine: CPU models, the typed machine spec, and its QEMU command line.

pub mod cmdline;
pub mod cpu;
pub mod spec;

pub use cmdline::{ChannelFds, qemu_args, shell_line};
pub use cpu::{CPU_MODELS, CpuModel, UnknownCpu, Vendor};
pub use spec::{Accel, Boot, Disk, Forward, MachineSpec, Nic, PanicAction};
