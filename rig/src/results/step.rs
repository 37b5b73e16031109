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
}

