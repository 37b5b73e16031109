//! Crash dumps and hang evidence: host-side memory dumps over QMP, the hang escalation
//! (registers, console tail, dump, NMI) and a short text triage of what was collected.
//!
//! The engine calls [`capture_panic`] when a panic is seen (the guest is already paused by
//! pvpanic) and [`capture_hang`] when a step or the iteration passes its deadline. The run's
//! [`DumpLedger`] keeps the first few dumps per build and crash signature; no dump starts
//! without room for it on the disk ([`space`]).

pub mod elf;
pub mod flush;
pub mod hang;
pub mod host;
pub mod ledger;
pub mod options;
pub mod panicked;
pub mod space;
pub mod triage;

pub use flush::flush_panic_console;
pub use hang::{HangEvidence, NmiResult, capture_hang};
pub use host::{DumpFormat, DumpInfo, capture_panic, dump_capped, dump_unless, host_dump};
pub use ledger::{DumpKey, DumpLedger, DumpScope};
pub use options::{DumpOptions, DumpPolicy};
pub use triage::{triage_text, triage_with_tool};
