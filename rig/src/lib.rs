//! rig: a full-system QEMU/KVM integration test rig for kernel engineers.
//!
//! The library holds everything: the guest images, the QEMU machine and its command line,
//! the QMP, serial and SSH channels, crash reading, and the test engine. The `xtask` binary
//! only parses the command line and calls in here.

pub mod case;
pub mod coal;
pub mod console;
pub mod cpu_check;
pub mod crash;
pub mod dump;
pub mod engine;
pub mod guest;
pub mod history;
pub mod host;
pub mod identity;
pub mod image;
pub mod journal;
pub mod lines;
pub mod machine;
pub mod profile;
pub mod qemu;
pub mod qmp;
pub mod report;
pub mod results;
pub mod rundir;
pub mod setup;
pub mod ssh;
pub mod stats;
pub mod target;
pub mod usernet;
