//! The guest machine: CPU models, the typed machine spec, and its QEMU command line.

pub mod cmdline;
pub mod cpu;
pub mod shape;
pub mod spec;

pub use cmdline::{ChannelFds, qemu_args, shell_line};
pub use cpu::{CPU_MODELS, CpuModel, UnknownCpu, Vendor};
pub use shape::Shape;
pub use spec::{Accel, Boot, Disk, Forward, MachineSpec, Nic, PanicAction};
