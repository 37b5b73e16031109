//! The YAML test-case format, as serde reads it. Every struct denies unknown fields, and the
//! checks that need more than one field run in `TryFrom`, so each error carries the file's
//! line and column. `testcases/README.md` documents the format for case writers.

use serde::{Deserialize, Serialize};

use super::step::Steps;

/// A test case: a guest, steps, iterations, deadlines and what counts as a pass.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The case's name (`kvm-reload-reboot-race`).
    pub name: String,
    /// What it does, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// Part of the default set run by a plain `cargo xtask rig`.
    #[serde(default)]
    pub default_set: bool,
    /// The guest it needs.
    #[serde(default)]
    pub guest: GuestReq,
    /// How many times the steps run (overridable with `--iterations`).
    #[serde(default = "one")]
    pub iterations: u32,
    /// Deadlines.
    #[serde(default)]
    pub deadlines: Deadlines,
    /// What counts as a pass.
    #[serde(default)]
    pub expect: Expect,
    /// The known bug this case hunts: what a panic must match to count as "reproduces" in
    /// comparisons and `--until-panic` (any panic, when absent).
    #[serde(default)]
    pub hunts: Option<Signature>,
    /// Images to compare (first the reference, e.g. the buggy build, then candidates); the case
    /// runs on each. `--compare` overrides.
    #[serde(default)]
    pub compare: Vec<String>,
    /// The race can start from a snapshot: boot once, run `setup`, save the VM state, and
    /// restore it before each iteration instead of rebooting (`--no-snapshot` overrides).
    #[serde(default)]
    pub snapshot: bool,
    /// Module switches applied once per boot, before `setup` (the guest profile knows how).
    #[serde(default)]
    pub modules: ModuleOptions,
    /// What a `reload_module` whose unload the guest refuses as busy means: `fail` (the
    /// default: a step failure quoting the guest) or `tolerate` (counted, the reload goes on).
    #[serde(default)]
    pub unload_busy: UnloadBusy,
    /// Steps run once per boot of the guest, before the iterations that use that boot.
    #[serde(default)]
    pub setup: Steps,
    /// The steps of one iteration.
    pub steps: Steps,
}

fn one() -> u32 {
    1
}

/// The guest a case needs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuestReq {
    /// Image name (`linux`, `linux-os7410-debug`, ...).
    #[serde(default = "default_image")]
    pub image: String,
    /// Which CPU vendor the case needs.
    #[serde(default)]
    pub vendor: VendorReq,
    /// Expose SVM/VMX to the guest (with nested paging where the vendor has it).
    #[serde(default)]
    pub nested: bool,
    /// Hide SVM/VMX from the guest, even where the CPU model has it (QEMU's `EPYC` does): a
    /// guest hypervisor module then never attaches and stays free to unload (illumos vmm).
    #[serde(default)]
    pub hide_virt: bool,
    /// Guest memory in MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: u32,
    /// vCPUs; races need real concurrency, so at least 2 by default.
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// Extra kernel command-line arguments (direct-boot images).
    #[serde(default)]
    pub kernel_args: Vec<String>,
}

impl GuestReq {
    /// The machine this asks for.
    pub fn shape(&self) -> crate::machine::Shape {
        crate::machine::Shape {
            memory_mib: self.memory_mib,
            vcpus: self.vcpus,
            nested: self.nested,
            hide_virt: self.hide_virt,
            kernel_args: self.kernel_args.clone(),
        }
    }
}

impl Default for GuestReq {
    fn default() -> Self {
        GuestReq {
            image: default_image(),
            vendor: VendorReq::Any,
            nested: false,
            hide_virt: false,
            memory_mib: default_memory(),
            vcpus: default_vcpus(),
            kernel_args: Vec::new(),
        }
    }
}

fn default_image() -> String {
    crate::guest_os::default_image()
}
fn default_memory() -> u32 {
    512
}
fn default_vcpus() -> u32 {
    2
}

/// Module switches a case asks for; the guest profile supplies the commands.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleOptions {
    /// Modules to let unload even once in use (illumos vmm: `sdev_plugin_unregister_allowed`).
    #[serde(default)]
    pub free: Vec<String>,
    /// Show every module load and unload on the console (illumos: `moddebug`), so reloads
    /// line up against the rest of the console log.
    #[serde(default)]
    pub debug: bool,
}

/// What a busy unload (illumos `EBUSY`, Linux "in use") of a `reload_module` step means.
/// Any other failed unload, and every failed load, is a step failure whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnloadBusy {
    /// A step failure quoting the guest's words.
    #[default]
    Fail,
    /// Counted and reported; the reload goes on with the load.
    Tolerate,
}

/// A CPU-vendor requirement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VendorReq {
    /// Any CPU model.
    #[default]
    Any,
    /// An AMD model (SVM).
    Amd,
    /// An Intel model (VMX).
    Intel,
}

/// The longest deadline, timeout, sleep or offset a case may give: 30 days, in seconds. Far
/// beyond any campaign, and far enough from `u64::MAX` that no instant computed from it
/// overflows (a bigger one is refused when the case loads, naming it).
pub const MAX_SECS: u64 = 30 * 24 * 3600;

/// [`MAX_SECS`] for the fields given in milliseconds.
pub const MAX_MS: u64 = MAX_SECS * 1000;

/// Deadlines, in seconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// From QEMU start (or a reboot) to SSH-ready.
    #[serde(default = "default_boot_secs")]
    pub boot_secs: u64,
    /// One iteration; past it the iteration is a hang.
    #[serde(default = "default_iteration_secs")]
    pub iteration_secs: u64,
    /// The whole run; past it the remaining iterations are not run.
    #[serde(default = "default_run_secs")]
    pub run_secs: u64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            boot_secs: default_boot_secs(),
            iteration_secs: default_iteration_secs(),
            run_secs: default_run_secs(),
        }
    }
}

fn default_boot_secs() -> u64 {
    120
}
fn default_iteration_secs() -> u64 {
    300
}
fn default_run_secs() -> u64 {
    6 * 3600
}

/// What a passing iteration looks like.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(from = "RawExpect", into = "RawExpect")]
pub struct Expect {
    /// `no_panic` (the default) or `panic`.
    pub outcome: ExpectOutcome,
    /// With `panic`: what the panic must match (in YAML its `title`, `message` and `function`
    /// stand beside `outcome`).
    pub panic: Signature,
    /// What a hang means: `fail` (the default) or `pass`.
    pub hang: HangMeaning,
}

/// [`Expect`] as written in YAML, the signature's fields inline.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    outcome: ExpectOutcome,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    hang: HangMeaning,
}

impl From<RawExpect> for Expect {
    fn from(r: RawExpect) -> Self {
        let panic = Signature { title: r.title, message: r.message, function: r.function };
        Expect { outcome: r.outcome, panic, hang: r.hang }
    }
}

impl From<Expect> for RawExpect {
    fn from(e: Expect) -> Self {
        let Signature { title, message, function } = e.panic;
        RawExpect { outcome: e.outcome, title, message, function, hang: e.hang }
    }
}

/// A crash signature to match: every field given must hold. What a case states about a crash
/// (in `hunts:` and in `expect:`), as opposed to [`crate::crash::Fingerprint`], which is
/// computed from a crash that happened (its title and stack) to tell two crashes apart.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The crash title, exactly (`kernel BUG in vmm_zsd_destroy`).
    #[serde(default)]
    pub title: Option<String>,
    /// A regex the crash message must match.
    #[serde(default)]
    pub message: Option<String>,
    /// A function that must be on the stack.
    #[serde(default)]
    pub function: Option<String>,
}

impl Signature {
    /// Whether it names nothing (so any crash matches).
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.message.is_none() && self.function.is_none()
    }

    /// Why its message regex does not compile, if it does not.
    pub fn bad_message(&self) -> Option<regex::Error> {
        self.message.as_deref().and_then(|m| regex::Regex::new(m).err())
    }

    /// The crash matchers it names (all must hold).
    pub fn matchers(&self) -> Vec<crate::crash::CrashMatcher> {
        use crate::crash::CrashMatcher;
        let mut m = Vec::new();
        if let Some(t) = &self.title {
            m.push(CrashMatcher::Title(t.clone()));
        }
        if let Some(re) = self.message.as_deref().and_then(|s| regex::Regex::new(s).ok()) {
            m.push(CrashMatcher::Message(re));
        }
        if let Some(f) = &self.function {
            m.push(CrashMatcher::Function(f.clone()));
        }
        m
    }

    /// Whether a panic matches: its crash report when one was read, else only its title (a
    /// message or function requirement cannot hold without a report).
    pub fn matches_panic(&self, report: Option<&crate::crash::CrashReport>, title: &str) -> bool {
        match report {
            Some(r) => self.matchers().iter().all(|m| m.matches(r)),
            None => {
                self.message.is_none() && self.function.is_none() && self.title.as_deref().is_none_or(|t| t == title)
            }
        }
    }
}

/// The expected outcome of an iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectOutcome {
    /// The guest must not panic.
    #[default]
    NoPanic,
    /// The guest must panic (matching the signature, if one is given).
    Panic,
}

/// What a hang counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HangMeaning {
    /// A hang fails the iteration.
    #[default]
    Fail,
    /// A hang is tolerated (counted, but the iteration passes).
    Pass,
}

/// A random duration range, in milliseconds.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, try_from = "RawJitter")]
pub struct Jitter {
    /// Shortest.
    pub min_ms: u64,
    /// Longest.
    pub max_ms: u64,
    /// Where a race-window search may move this range (`reproduce`); runs use the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore: Option<Explore>,
}

impl Jitter {
    /// The range `min_ms..=max_ms`, not explorable.
    pub const fn new(min_ms: u64, max_ms: u64) -> Jitter {
        Jitter { min_ms, max_ms, explore: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJitter {
    min_ms: u64,
    max_ms: u64,
    #[serde(default)]
    explore: Option<Explore>,
}

impl TryFrom<RawJitter> for Jitter {
    type Error = String;
    fn try_from(r: RawJitter) -> Result<Self, String> {
        if r.min_ms > r.max_ms {
            return Err(format!("jitter range: min_ms ({}) is greater than max_ms ({})", r.min_ms, r.max_ms));
        }
        if r.max_ms > MAX_MS {
            return Err(format!("jitter range: max_ms ({}) is more than 30 days ({MAX_MS} ms)", r.max_ms));
        }
        if let Some(x) = r.explore
            && (x.min_ms > r.min_ms || x.max_ms < r.max_ms)
        {
            return Err(format!(
                "explore: its bounds {}..{} ms must contain the range {}..{} ms it searches from",
                x.min_ms, x.max_ms, r.min_ms, r.max_ms
            ));
        }
        Ok(Jitter { min_ms: r.min_ms, max_ms: r.max_ms, explore: r.explore })
    }
}

/// The bounds a race-window search may move a range within, and into how many sub-ranges it
/// splits them (`explore: { min_ms: 0, max_ms: 2000, split: 4 }`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, try_from = "RawExplore")]
pub struct Explore {
    /// The lowest the search may go.
    pub min_ms: u64,
    /// The highest the search may go.
    pub max_ms: u64,
    /// Sub-ranges to split the bounds into, 2 to [`MAX_SPLIT`].
    pub split: u32,
}

/// The most sub-ranges an `explore:` may split its bounds into.
pub const MAX_SPLIT: u32 = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExplore {
    min_ms: u64,
    max_ms: u64,
    #[serde(default = "default_split")]
    split: u32,
}

fn default_split() -> u32 {
    4
}

impl TryFrom<RawExplore> for Explore {
    type Error = String;
    fn try_from(r: RawExplore) -> Result<Self, String> {
        if r.max_ms > MAX_MS {
            return Err(format!("explore: max_ms ({}) is more than 30 days ({MAX_MS} ms)", r.max_ms));
        }
        if !(2..=MAX_SPLIT).contains(&r.split) {
            return Err(format!("explore: split must be 2 to {MAX_SPLIT}, not {}", r.split));
        }
        if r.max_ms.saturating_sub(r.min_ms) < u64::from(r.split) {
            return Err(format!(
                "explore: the bounds {}..{} ms are too narrow to split in {} (at least 1 ms each)",
                r.min_ms, r.max_ms, r.split
            ));
        }
        Ok(Explore { min_ms: r.min_ms, max_ms: r.max_ms, split: r.split })
    }
}

/// How a reboot is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootVia {
    /// The guest's own reboot command over SSH (detached: it never returns).
    Ssh,
    /// QMP `system_reset`.
    Qmp,
}

/// A QMP command.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QmpStep {
    /// The command (`system_reset`, `inject-nmi`, `query-status`).
    pub execute: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Option<serde_norway::Value>,
}

/// Steps that run concurrently with the rest of their block until the block ends.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Background {
    /// The steps; repeated while the block runs when `repeat` is true.
    pub steps: Steps,
    /// Repeat the steps until the enclosing block ends (the default).
    #[serde(default = "yes")]
    pub repeat: bool,
}

fn yes() -> bool {
    true
}

/// Branches that start together, each after a random offset.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, try_from = "RawRace")]
pub struct Race {
    /// Each branch starts after a random delay in this range.
    pub offset_ms: Jitter,
    /// The branches (at least two).
    pub branches: Vec<Steps>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRace {
    #[serde(default = "no_offset")]
    offset_ms: Jitter,
    branches: Vec<Steps>,
}

fn no_offset() -> Jitter {
    Jitter::new(0, 0)
}

impl TryFrom<RawRace> for Race {
    type Error = String;
    fn try_from(r: RawRace) -> Result<Self, String> {
        if r.branches.len() < 2 {
            return Err(format!("a race needs at least two branches, this one has {}", r.branches.len()));
        }
        if let Some(i) = r.branches.iter().position(|b| b.is_empty()) {
            return Err(format!("race branch {i} has no steps"));
        }
        Ok(Race { offset_ms: r.offset_ms, branches: r.branches })
    }
}

/// Steps repeated a number of times.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// How many times.
    pub times: u32,
    /// The steps.
    pub steps: Steps,
}
