//! One step of a test case. In YAML a step is a mapping with exactly one kind key (the kinds
//! are declared in [`super::kinds`]) plus optional common keys (`timeout_secs`, and for `ssh`
//! `expect_status` / `ignore_status`).

use serde::{Deserialize, Serialize};

use super::kinds::{self, RawStep};
use super::model::{Background, Jitter, MAX_SECS, Race, RebootVia, Repeat};

/// A list of steps. Each item is checked as it is read; a bad item's error says which item it
/// is (`item N:`), which `load` turns into the item's line and column.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Steps(pub Vec<Step>);

impl std::ops::Deref for Steps {
    type Target = [Step];
    fn deref(&self) -> &[Step] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Steps, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Steps;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of steps")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Steps, A::Error> {
                let mut out = Vec::new();
                while let Some(raw) = seq.next_element::<RawStep>()? {
                    let step = Step::try_from(raw)
                        .map_err(|e| serde::de::Error::custom(format!("item {}: {e}", out.len() + 1)))?;
                    out.push(step);
                }
                Ok(Steps(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A validated step.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "RawStep")]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// Its own deadline (defaults depend on the kind).
    pub timeout_secs: Option<u64>,
}

/// The kinds of step.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Run a shell command in the guest over SSH; `expect_status: None` accepts any status.
    Ssh {
        /// The command.
        cmd: String,
        /// The exit status required (None: any).
        expect_status: Option<u32>,
    },
    /// Send a QMP command.
    Qmp {
        /// The command.
        execute: String,
        /// Its arguments (JSON).
        arguments: serde_json::Value,
    },
    /// Wait for a console line matching a regex.
    WaitConsole(String),
    /// Wait for the guest to come back with a new boot nonce.
    WaitBoot,
    /// Reboot the guest and wait until it is back (new nonce).
    Reboot(RebootVia),
    /// Sleep a random time in a range.
    Sleep(Jitter),
    /// Unload and load a module by the profile's name for it (e.g. `vmm`).
    ReloadModule(String),
    /// Steps running alongside the rest of the block.
    Background(Background),
    /// Branches started together with random offsets.
    Race(Race),
    /// Steps repeated.
    Repeat(Repeat),
    /// Check that the guest's CPU is the model asked for (vendor, model name, nested flag).
    CheckCpu,
    /// Halt running zones at once (`None`: all of them), as the profile says; waits for them.
    HaltZones(Option<u32>),
    /// Boot every halted zone, as the profile says; waits for them.
    BootZones,
}

impl StepKind {
    /// A short description for progress lines, hang reports and errors.
    pub fn describe(&self) -> String {
        match self {
            StepKind::Ssh { cmd, .. } => format!("ssh `{cmd}`"),
            StepKind::Qmp { execute, .. } => format!("qmp {execute}"),
            StepKind::WaitConsole(p) => format!("wait_console /{p}/"),
            StepKind::WaitBoot => "wait_boot".into(),
            StepKind::Reboot(RebootVia::Ssh) => "reboot via ssh".into(),
            StepKind::Reboot(RebootVia::Qmp) => "reboot via qmp system_reset".into(),
            StepKind::Sleep(j) => format!("sleep {}..{} ms", j.min_ms, j.max_ms),
            StepKind::ReloadModule(m) => format!("reload_module {m}"),
            StepKind::Background(b) => format!("background ({} steps)", b.steps.len()),
            StepKind::Race(r) => format!("race ({} branches)", r.branches.len()),
            StepKind::Repeat(r) => format!("repeat {}x", r.times),
            StepKind::CheckCpu => "check_cpu".into(),
            StepKind::HaltZones(Some(n)) => format!("halt_zones {n}"),
            StepKind::HaltZones(None) => "halt_zones all".into(),
            StepKind::BootZones => "boot_zones".into(),
        }
    }
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(r: RawStep) -> Result<Self, String> {
        if r.ssh.is_none() && (r.expect_status.is_some() || r.ignore_status.is_some()) {
            return Err("expect_status and ignore_status apply only to ssh steps".into());
        }
        let (mut found, common) = r.kinds()?;
        match common.timeout_secs {
            Some(0) => return Err("timeout_secs must be at least 1".into()),
            Some(t) if t > MAX_SECS => {
                return Err(format!("timeout_secs: {t} is more than 30 days ({MAX_SECS} s)"));
            }
            _ => {}
        }
        match found.len() {
            1 => Ok(Step { kind: found.pop().expect("one kind"), timeout_secs: common.timeout_secs }),
            0 => Err(format!("a step needs one of: {}", kinds::keys())),
            n => Err(format!("a step has exactly one kind, this one has {n}; split it into {n} steps")),
        }
    }
}
