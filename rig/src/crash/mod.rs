//! Crash readers: turn console text into crash reports with stable titles.
//!
//! One reader per OS behind the small [`Dialect`] interface. Which dialects exist is the
//! guest-OS registry's business: each guest OS brings its own, with its crash formats as
//! pattern tables, under `guest_os/<os>/crash/`. This module holds only the shared machinery
//! (streaming, detection, fingerprints, title masking, corpus scoring). Feed a [`CrashReader`]
//! the serial console as it arrives, or call [`read_all`] on a whole log.

mod auto;
pub mod corpus;
mod detect;
mod fingerprint;
mod lines;
mod report;
pub mod scorecard;
mod stream;
pub mod title;

pub use auto::{AutoReader, DETECT_WINDOW};
pub use detect::detect_os;
pub use fingerprint::{CrashMatcher, Fingerprint};
pub use lines::MAX_LINE;
pub use report::{Certainty, CrashKind, CrashReport, Frame, Os};
pub use stream::{CrashReader, Dialect, End, Event, MAX_REPORT_BYTES, MAX_REPORT_LINES, completed, read_all};
