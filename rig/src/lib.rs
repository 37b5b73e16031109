//! rig: a full-system QEMU/KVM integration test rig for kernel engineers.
//!
//! The library holds everything: the guest images, the QEMU machine and its command line,
//! the QMP, serial and SSH channels, crash reading, and the test engine. The `xtask` binary
//! only parses the command line and calls in here.

pub mod crash;
pub mod image;
pub mod ssh;
