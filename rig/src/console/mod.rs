//! The serial console: a task per port that logs and answers waits, plus the pure pieces
//! (line splitting, patterns) it is built from.

pub mod lines;
pub mod pattern;
pub mod stall;
pub mod task;

pub use pattern::Pattern;
pub use task::{Console, ConsoleLine, ConsoleMatch, ConsoleWaitError};
