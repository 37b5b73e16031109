//! What runs found, as data: outcomes and verdicts, step transcripts, reload counts, build
//! comparisons, bisections and the report model. Below both the engine, which produces them,
//! and the report writers and history, which read them; pure (no guest, no I/O).

pub mod assigned;
pub mod bisect_exit;
pub mod bisection;
pub mod compare;
pub mod comparison;
#[cfg(test)]
pub mod fixture;
pub mod judged;
pub mod model;
pub mod outcome;
pub mod provenance;
pub mod reloads;
pub mod shard;
pub mod step;
pub mod stop;

pub use model::{CaseRun, IterationResult, RunReport, Tally};
pub use outcome::{Outcome, Verdict};
pub use stop::StopReason;
