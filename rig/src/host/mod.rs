//! The host: prerequisites, the accelerator choice and the KVM probe, nested preflight.

pub mod accel;
pub mod kvm_probe;
pub mod memory;
pub mod nested;
pub mod prereqs;
pub mod provenance;

pub use accel::{AccelChoice, KvmStatus, Resolved};
