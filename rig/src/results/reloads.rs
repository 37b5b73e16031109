//! Module reloads counted over an iteration or a run, as reported.

use serde::{Deserialize, Serialize};

/// Reload counts of one iteration (or of one background loop).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadCounts {
    /// Reloads started (an unload, then a load).
    pub attempted: u32,
    /// Unloads that succeeded.
    pub unloads_ok: u32,
    /// Unloads the guest refused as busy.
    pub unloads_busy: u32,
    /// Unloads that found the module not loaded (another reloader unloaded it first).
    #[serde(default)]
    pub unloads_absent: u32,
    /// Loads that succeeded.
    pub loads_ok: u32,
    /// Reloads whose unload and load both succeeded: the module really went away and came back.
    pub reloads_ok: u32,
    /// Rounds run by the iteration's background loops (in the guest and on the host).
    pub loop_rounds: u32,
    /// Background loops that reported their counts (a loop on the host always does).
    pub loops: u32,
    /// In-guest background loops whose counts were lost (the guest panicked or rebooted before
    /// they could be read): the counts above are then a lower bound.
    pub loops_unreported: u32,
}

impl ReloadCounts {
    /// Adds one reload.
    pub fn add(&mut self, r: &Reload) {
        self.attempted += 1;
        match r.unload {
            Unload::Ok => self.unloads_ok += 1,
            Unload::Busy(_) => self.unloads_busy += 1,
            Unload::Absent(_) => self.unloads_absent += 1,
            Unload::Failed(_) => {}
        }
        if r.load.is_ok() {
            self.loads_ok += 1;
            if r.unload == Unload::Ok {
                self.reloads_ok += 1;
            }
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, o: &ReloadCounts) {
        self.attempted += o.attempted;
        self.unloads_ok += o.unloads_ok;
        self.unloads_busy += o.unloads_busy;
        self.unloads_absent += o.unloads_absent;
        self.loads_ok += o.loads_ok;
        self.reloads_ok += o.reloads_ok;
        self.loop_rounds += o.loop_rounds;
        self.loops += o.loops;
        self.loops_unreported += o.loops_unreported;
    }

    /// Whether every reload of the iteration was counted.
    pub fn complete(&self) -> bool {
        self.loops_unreported == 0
    }

    /// One line for tables and notes.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} reloads: {} ok, {} unloaded, {} busy, {} loaded",
            self.attempted, self.reloads_ok, self.unloads_ok, self.unloads_busy, self.loads_ok
        );
        if self.unloads_absent > 0 {
            s.push_str(&format!(", {} found it not loaded", self.unloads_absent));
        }
        if self.loops > 0 || self.loops_unreported > 0 {
            s.push_str(&format!("; {} loop rounds", self.loop_rounds));
        }
        if self.loops_unreported > 0 {
            s.push_str(&format!(" ({} loops lost to a panic or reboot: at least these)", self.loops_unreported));
        }
        s
    }
}

/// What an unload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unload {
    /// The module went away.
    Ok,
    /// The guest refused: the module is busy (its words).
    Busy(String),
    /// The module was not loaded (its words).
    Absent(String),
    /// Any other failure (its words).
    Failed(String),
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reload {
    /// The unload.
    pub unload: Unload,
    /// The load: the guest's words on failure.
    pub load: Result<(), String>,
}
