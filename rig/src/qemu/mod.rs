//! Running QEMU: finding the binary and owning the child process.

pub mod img;
pub mod process;

pub use process::QemuProcess;

use std::path::PathBuf;

/// The QEMU system emulator the rig runs: `$RIG_QEMU` if set, else `qemu-system-x86_64` on PATH.
pub fn qemu_binary() -> PathBuf {
    std::env::var_os("RIG_QEMU").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}
