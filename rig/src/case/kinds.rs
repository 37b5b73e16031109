//! The step kinds, declared once. One row per kind gives its YAML key, the YAML value it
//! takes, its [`StepKind`] variant, where it can run (in a guest-side shell loop or only from
//! the host), its parser, a one-line description and an example. From the table come the YAML
//! form [`RawStep`] (so an unknown key lists every kind), the list of kinds that errors and
//! docs show, and the check that a step has exactly one kind. The engine's dispatch and shell
//! form are exhaustive matches on [`StepKind`], and a test holds the engine's shell form to
//! each row's [`Runs`]: a kind added here without them does not build, or fails that test.

use serde::{Deserialize, Serialize};

use super::model::{Background, Jitter, QmpStep, Race, RebootVia, Repeat};
use super::step::{Step, StepKind};

/// Where a kind of step can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// In a guest's shell: a repeated background block of such steps becomes one shell loop
    /// in the guest (when the guest's profile can do each of them).
    GuestShell,
    /// Only from the host (it needs QMP, the console, a reboot, or nests steps).
    Host,
}

/// The keys every step may have whatever its kind (`expect_status` and `ignore_status` only
/// with `ssh`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Common {
    /// `timeout_secs`.
    pub timeout_secs: Option<u64>,
    /// `expect_status`.
    pub expect_status: Option<u32>,
    /// `ignore_status`.
    pub ignore_status: Option<bool>,
}

macro_rules! step_kinds {
    ($(
        $key:ident: $value:ty => $variant:ident, $runs:ident, $parse:ident,
            $about:literal, $example:literal;
    )*) => {
        /// The YAML form of a step: every kind is an optional key; exactly one must be present.
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawStep {
            $(
                #[doc = $about]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub(super) $key: Option<$value>,
            )*
            /// The step's own deadline.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub(super) timeout_secs: Option<u64>,
            /// The exit status an `ssh` step requires (default 0).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub(super) expect_status: Option<u32>,
            /// An `ssh` step accepts any exit status.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub(super) ignore_status: Option<bool>,
        }

        /// A kind of step, without its arguments: one per row of the table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Kind {
            $(
                #[doc = $about]
                $variant,
            )*
        }

        impl Kind {
            /// Every kind, in the table's order.
            pub const ALL: &[Kind] = &[$(Kind::$variant),*];

            /// Its YAML key.
            pub fn key(self) -> &'static str {
                match self {
                    $(Kind::$variant => stringify!($key),)*
                }
            }

            /// What it does, in one line.
            pub fn about(self) -> &'static str {
                match self {
                    $(Kind::$variant => $about,)*
                }
            }

            /// Where it can run.
            pub fn runs(self) -> Runs {
                match self {
                    $(Kind::$variant => Runs::$runs,)*
                }
            }

            /// A step of this kind, as YAML.
            pub fn example(self) -> &'static str {
                match self {
                    $(Kind::$variant => $example,)*
                }
            }
        }

        impl StepKind {
            /// Its kind, without the arguments.
            pub fn kind(&self) -> Kind {
                match self {
                    $(StepKind::$variant { .. } => Kind::$variant,)*
                }
            }
        }

        impl RawStep {
            /// The kind keys present, each parsed, in the table's order; the first bad one's
            /// error.
            pub(super) fn kinds(self) -> Result<(Vec<StepKind>, Common), String> {
                let common = Common {
                    timeout_secs: self.timeout_secs,
                    expect_status: self.expect_status,
                    ignore_status: self.ignore_status,
                };
                let mut kinds = Vec::new();
                $(
                    if let Some(v) = self.$key {
                        kinds.push($parse(v, &common)?);
                    }
                )*
                Ok((kinds, common))
            }
        }
    };
}

step_kinds! {
    ssh: String => Ssh, GuestShell, ssh,
        "run a shell command in the guest over SSH (`expect_status`, default 0, or `ignore_status: true`)",
        "ssh: uname -a";
    qmp: QmpStep => Qmp, Host, qmp,
        "send a QMP command (`execute`, optional `arguments`)",
        "qmp: { execute: query-status }";
    wait_console: String => WaitConsole, Host, wait_console,
        "wait for a console line matching a regex",
        "wait_console: 'login:'";
    wait_boot: bool => WaitBoot, Host, wait_boot,
        "wait for the guest to come back with a new boot",
        "wait_boot: true";
    reboot: RebootVia => Reboot, Host, reboot,
        "reboot the guest (`ssh` or `qmp`) and wait until it is back",
        "reboot: qmp";
    sleep: Jitter => Sleep, GuestShell, sleep,
        "sleep a random time in a range (`min_ms`, `max_ms`)",
        "sleep: { min_ms: 5, max_ms: 20 }";
    reload_module: String => ReloadModule, GuestShell, reload_module,
        "unload and load a module by the guest profile's name for it",
        "reload_module: vmm";
    background: Background => Background, Host, background,
        "steps running alongside the rest of the block (`steps`, `repeat`, default true)",
        "background: { steps: [ { ssh: 'true' } ] }";
    race: Race => Race, Host, race,
        "branches started together, each after a random offset (`branches`, `offset_ms`)",
        "race: { branches: [ [ { ssh: 'true' } ], [ { reboot: qmp } ] ] }";
    repeat: Repeat => Repeat, Host, repeat,
        "steps repeated a number of times (`times`, `steps`)",
        "repeat: { times: 2, steps: [ { ssh: 'true' } ] }";
    check_cpu: bool => CheckCpu, Host, check_cpu,
        "check that the guest's CPU is the model asked for",
        "check_cpu: true";
    halt_zones: ZoneCount => HaltZones, GuestShell, halt_zones,
        "halt running zones at once (a number, or `all`) and wait for them",
        "halt_zones: 2";
    boot_zones: ZoneCount => BootZones, GuestShell, boot_zones,
        "boot every halted zone (`all`) and wait for them",
        "boot_zones: all";
}

/// Every kind's YAML key, comma-separated (for errors).
pub fn keys() -> String {
    Kind::ALL.iter().map(|k| k.key()).collect::<Vec<_>>().join(", ")
}

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

// The parsers, one per row: the YAML value and the common keys to the step kind, or why not.

fn ssh(cmd: String, c: &Common) -> Result<StepKind, String> {
    if cmd.trim().is_empty() {
        return Err("ssh: the command is empty".into());
    }
    // A shell comment runs nothing: in a loop it would count rounds of nothing.
    if cmd.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err("ssh: the command is only a comment: it would run nothing".into());
    }
    let expect_status = if c.ignore_status == Some(true) { None } else { Some(c.expect_status.unwrap_or(0)) };
    Ok(StepKind::Ssh { cmd, expect_status })
}

fn qmp(q: QmpStep, _: &Common) -> Result<StepKind, String> {
    let arguments = match q.arguments {
        None => serde_json::Value::Null,
        Some(v) => serde_json::to_value(v).map_err(|e| format!("qmp arguments: {e}"))?,
    };
    Ok(StepKind::Qmp { execute: q.execute, arguments })
}

fn wait_console(p: String, _: &Common) -> Result<StepKind, String> {
    regex::Regex::new(&p).map_err(|e| format!("wait_console: not a valid regex: {e}"))?;
    Ok(StepKind::WaitConsole(p))
}

fn wait_boot(b: bool, _: &Common) -> Result<StepKind, String> {
    flag("wait_boot", b).map(|()| StepKind::WaitBoot)
}

fn reboot(v: RebootVia, _: &Common) -> Result<StepKind, String> {
    Ok(StepKind::Reboot(v))
}

fn sleep(j: Jitter, _: &Common) -> Result<StepKind, String> {
    Ok(StepKind::Sleep(j))
}

fn reload_module(m: String, _: &Common) -> Result<StepKind, String> {
    Ok(StepKind::ReloadModule(m))
}

fn background(b: Background, _: &Common) -> Result<StepKind, String> {
    if b.steps.is_empty() {
        return Err("background: no steps".into());
    }
    Ok(StepKind::Background(b))
}

fn race(r: Race, _: &Common) -> Result<StepKind, String> {
    Ok(StepKind::Race(r))
}

fn repeat(r: Repeat, _: &Common) -> Result<StepKind, String> {
    if r.times == 0 || r.steps.is_empty() {
        return Err("repeat: needs times >= 1 and at least one step".into());
    }
    Ok(StepKind::Repeat(r))
}

fn check_cpu(b: bool, _: &Common) -> Result<StepKind, String> {
    flag("check_cpu", b).map(|()| StepKind::CheckCpu)
}

fn halt_zones(n: ZoneCount, _: &Common) -> Result<StepKind, String> {
    match n {
        ZoneCount::Some(0) => Err("halt_zones: 0 halts nothing; give a number or `all`".into()),
        ZoneCount::Some(n) => Ok(StepKind::HaltZones(Some(n))),
        ZoneCount::Word(AllZones::All) => Ok(StepKind::HaltZones(None)),
    }
}

fn boot_zones(n: ZoneCount, _: &Common) -> Result<StepKind, String> {
    match n {
        ZoneCount::Word(AllZones::All) => Ok(StepKind::BootZones),
        ZoneCount::Some(_) => Err("boot_zones: only `all` (every halted zone) is supported".into()),
    }
}

fn flag(key: &str, v: bool) -> Result<(), String> {
    if v { Ok(()) } else { Err(format!("{key}: false makes no sense; leave the step out")) }
}

/// The YAML form of a validated step (what serializing a case writes).
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
                let arguments = (!arguments.is_null())
                    .then(|| serde_norway::to_value(arguments).unwrap_or(serde_norway::Value::Null));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Step {
        let raw: RawStep = serde_norway::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        Step::try_from(raw).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    #[test]
    fn every_kind_parses_its_example_and_writes_it_back() {
        for &k in Kind::ALL {
            let step = parse(k.example());
            assert_eq!(step.kind.kind(), k, "{}", k.example());
            assert!(k.example().starts_with(&format!("{}: ", k.key())), "{}", k.example());
            let again = parse(&serde_norway::to_string(&step).unwrap());
            assert_eq!(again.kind.describe(), step.kind.describe(), "{}", k.example());
        }
    }

    #[test]
    fn a_step_without_a_kind_lists_every_kind() {
        let raw: RawStep = serde_norway::from_str("timeout_secs: 5").unwrap();
        let err = Step::try_from(raw).unwrap_err();
        assert_eq!(err, format!("a step needs one of: {}", keys()));
        for &k in Kind::ALL {
            assert_eq!(
                err.matches(&format!(" {},", k.key())).count() + usize::from(err.ends_with(k.key())),
                1,
                "{err}"
            );
        }
    }
}
