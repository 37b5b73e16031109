//! Crash readers: turn console text into crash reports with stable titles.
//!
//! One reader per OS behind the small [`Dialect`] interface; crash formats live in pattern
//! tables (`linux_patterns`, `illumos_patterns`). Which dialects exist is the guest-OS
//! registry's business (each guest OS brings its own): this module holds the shared machinery
//! (streaming, detection, fingerprints, scoring) and the built-in OSes' readers. Feed a
//! [`CrashReader`] the serial console as it arrives, or call [`read_all`] on a whole log. Titles follow syzkaller's
//! grammar for Linux (`kernel BUG in f`) and `<masked message> in <function>` for illumos.

mod auto;
pub mod corpus;
mod detect;
mod fingerprint;
mod illumos;
mod illumos_patterns;
mod illumos_stack;
mod lines;
mod linux;
mod linux_patterns;
#[cfg(test)]
mod linux_tests;
mod linux_title;
mod report;
pub mod scorecard;
mod stream;
pub mod title;

pub use auto::{AutoReader, DETECT_WINDOW};
pub use detect::detect_os;
pub use fingerprint::{CrashMatcher, Fingerprint};
pub use illumos::Illumos as IllumosDialect;
pub use lines::MAX_LINE;
pub use linux::Linux as LinuxDialect;
pub use report::{Certainty, CrashKind, CrashReport, Frame, Os};
pub use stream::{CrashReader, Dialect, End, Event, MAX_REPORT_BYTES, MAX_REPORT_LINES, completed, read_all};
