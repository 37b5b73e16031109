//! One step of a test case. In YAML a step is a mapping with exactly one kind key (`ssh`,
//! `qmp`, `wait_console`, `wait_boot`, `reboot`, `sleep`, `reload_module`, `background`,
//! `race`, `repeat`, `check_cpu`) plus optional common keys (`timeout_secs`, and for `ssh`
//! `expect_status` / `ignore_status`).

use serde::{Deserialize, Serialize};

use super::model::{Background, Jitter, MAX_SECS, QmpStep, Race, RebootVia, Repeat};

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

/// The YAML form: every kind is an optional key; exactly one must be present.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ssh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qmp: Option<QmpStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait_console: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait_boot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reboot: Option<RebootVia>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sleep: Option<Jitter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reload_module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    background: Option<Background>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    race: Option<Race>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat: Option<Repeat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    check_cpu: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    halt_zones: Option<ZoneCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boot_zones: Option<ZoneCount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect_status: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ignore_status: Option<bool>,
}

const KINDS: &str = "ssh, qmp, wait_console, wait_boot, reboot, sleep, reload_module, background, race, repeat, \
                     check_cpu, halt_zones, boot_zones";

/// How many zones: a number, or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ZoneCount {
    /// At most this many.
    Some(u32),
    /// `all`.
    Word(AllZones),
}

/// The word `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AllZones {
    /// Every zone.
    All,
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(r: RawStep) -> Result<Self, String> {
        let mut kinds: Vec<StepKind> = Vec::new();
        let status_given = r.expect_status.is_some() || r.ignore_status.is_some();
        if let Some(cmd) = r.ssh {
            if cmd.trim().is_empty() {
                return Err("ssh: the command is empty".into());
            }
            // A shell comment runs nothing: in a loop it would count rounds of nothing.
            if cmd.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
                return Err("ssh: the command is only a comment: it would run nothing".into());
            }
            let expect_status = if r.ignore_status == Some(true) { None } else { Some(r.expect_status.unwrap_or(0)) };
            kinds.push(StepKind::Ssh { cmd, expect_status });
        } else if status_given {
            return Err("expect_status and ignore_status apply only to ssh steps".into());
        }
        if let Some(q) = r.qmp {
            let arguments = match q.arguments {
                None => serde_json::Value::Null,
                Some(v) => serde_json::to_value(v).map_err(|e| format!("qmp arguments: {e}"))?,
            };
            kinds.push(StepKind::Qmp { execute: q.execute, arguments });
        }
        if let Some(p) = r.wait_console {
            regex::Regex::new(&p).map_err(|e| format!("wait_console: not a valid regex: {e}"))?;
            kinds.push(StepKind::WaitConsole(p));
        }
        if let Some(b) = r.wait_boot {
            flag("wait_boot", b)?;
            kinds.push(StepKind::WaitBoot);
        }
        if let Some(v) = r.reboot {
            kinds.push(StepKind::Reboot(v));
        }
        if let Some(j) = r.sleep {
            kinds.push(StepKind::Sleep(j));
        }
        if let Some(m) = r.reload_module {
            kinds.push(StepKind::ReloadModule(m));
        }
        if let Some(b) = r.background {
            if b.steps.is_empty() {
                return Err("background: no steps".into());
            }
            kinds.push(StepKind::Background(b));
        }
        if let Some(race) = r.race {
            kinds.push(StepKind::Race(race));
        }
        if let Some(rep) = r.repeat {
            if rep.times == 0 || rep.steps.is_empty() {
                return Err("repeat: needs times >= 1 and at least one step".into());
            }
            kinds.push(StepKind::Repeat(rep));
        }
        if let Some(b) = r.check_cpu {
            flag("check_cpu", b)?;
            kinds.push(StepKind::CheckCpu);
        }
        match r.halt_zones {
            Some(ZoneCount::Some(0)) => return Err("halt_zones: 0 halts nothing; give a number or `all`".into()),
            Some(ZoneCount::Some(n)) => kinds.push(StepKind::HaltZones(Some(n))),
            Some(ZoneCount::Word(AllZones::All)) => kinds.push(StepKind::HaltZones(None)),
            None => {}
        }
        match r.boot_zones {
            Some(ZoneCount::Word(AllZones::All)) => kinds.push(StepKind::BootZones),
            Some(ZoneCount::Some(_)) => return Err("boot_zones: only `all` (every halted zone) is supported".into()),
            None => {}
        }
        match r.timeout_secs {
            Some(0) => return Err("timeout_secs must be at least 1".into()),
            Some(t) if t > MAX_SECS => {
                return Err(format!("timeout_secs: {t} is more than 30 days ({MAX_SECS} s)"));
            }
            _ => {}
        }
        match kinds.len() {
            1 => Ok(Step { kind: kinds.pop().expect("one kind"), timeout_secs: r.timeout_secs }),
            0 => Err(format!("a step needs one of: {KINDS}")),
            n => Err(format!("a step has exactly one kind, this one has {n}; split it into {n} steps")),
        }
    }
}

fn flag(key: &str, v: bool) -> Result<(), String> {
    if v { Ok(()) } else { Err(format!("{key}: false makes no sense; leave the step out")) }
}

impl From<Step> for RawStep {
    fn from(s: Step) -> RawStep {
        let mut r = RawStep { timeout_secs: s.timeout_secs, ..RawStep::default() };
        match s.kind {
            StepKind::Ssh { cmd, expect_status } => {
                r.ssh = Some(cmd);
                match expect_status {
                    None => r.ignore_status = Some(true),
                    Some(0) => {}
                    Some(n) => r.expect_status = Some(n),
                }
            }
            StepKind::Qmp { execute, arguments } => {
                let arguments =
                    (!arguments.is_null()).then(|| serde_yaml::to_value(arguments).unwrap_or(serde_yaml::Value::Null));
                r.qmp = Some(QmpStep { execute, arguments });
            }
            StepKind::WaitConsole(p) => r.wait_console = Some(p),
            StepKind::WaitBoot => r.wait_boot = Some(true),
            StepKind::Reboot(v) => r.reboot = Some(v),
            StepKind::Sleep(j) => r.sleep = Some(j),
            StepKind::ReloadModule(m) => r.reload_module = Some(m),
            StepKind::Background(b) => r.background = Some(b),
            StepKind::Race(x) => r.race = Some(x),
            StepKind::Repeat(x) => r.repeat = Some(x),
            StepKind::CheckCpu => r.check_cpu = Some(true),
            StepKind::HaltZones(n) => r.halt_zones = Some(n.map_or(ZoneCount::Word(AllZones::All), ZoneCount::Some)),
            StepKind::BootZones => r.boot_zones = Some(ZoneCount::Word(AllZones::All)),
        }
        r
    }
}
