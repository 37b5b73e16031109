//! The step transcript of an iteration.

use serde::{Deserialize, Serialize};

/// One line of the step transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Seconds since the iteration began.
    pub t: f64,
    /// The step.
    pub step: String,
    /// What came of it (`ok`, `exit 1`, `interrupted by reboot`, ...).
    pub result: String,
    /// For reboots: the new boot's nonce and timings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<crate::guest::BootInfo>,
    /// What the step measured, typed (the `result` text says it for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<StepDetail>,
}

/// What a step measured, for readers that compute with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepDetail {
    /// A `sleep` step: how long it slept.
    Slept {
        /// Milliseconds.
        ms: u64,
    },
    /// The iteration began by restoring a saved VM state.
    Restored {
        /// The state's tag.
        tag: String,
        /// Seconds the restore took.
        secs: f64,
    },
}
