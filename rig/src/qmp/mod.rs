//! QMP, QEMU's machine protocol: the client and the events it records.

pub mod client;
pub mod event;

pub use client::{Qmp, QmpError};
pub use event::QmpEvent;
