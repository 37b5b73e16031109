//! The crash report: what a reader hands back for one crash (kind, title, message, frames).

use serde::{Deserialize, Serialize};

/// Which OS's console a report was read from: the name of a guest OS's crash dialect
/// (`linux`, `illumos`). Which OSes exist is the guest-OS registry's business, not this type's:
/// any name is an `Os`, and names are interned (a handful per process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Os(&'static str);

impl Os {
    /// The OS of this name (a dialect's own, compile-time name).
    pub const fn new(name: &'static str) -> Os {
        Os(name)
    }

    /// The OS of this name, from text (a corpus header, a report read back).
    pub fn named(name: &str) -> Os {
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = names.iter().find(|n| **n == name) {
            return Os(n);
        }
        let n: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.push(n);
        Os(n)
    }

    /// Its name (`linux`).
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Os {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Os {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Os::named(&name))
    }
}

/// The class of a crash, coarse enough for an engine to branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashKind {
    /// A plain panic (`Kernel panic - not syncing`, illumos `panic[cpuN]`).
    Panic,
    /// An assertion (`assertion failed:`, Linux `kernel BUG at` is [`CrashKind::Bug`]).
    Assertion,
    /// A trap or fault: page fault, general protection fault, divide error, BAD TRAP.
    Trap,
    /// A Linux `BUG:`/`kernel BUG at`/Oops.
    Bug,
    /// A Linux `WARNING:` (the kernel carries on unless `panic_on_warn`).
    Warning,
    /// A task blocked for too long (`INFO: task ... blocked`), a hung pool.
    HungTask,
    /// A CPU stuck: soft lockup, RCU stall, illumos deadman.
    Lockup,
    /// A sanitizer report: KASAN, KMSAN, KFENCE, UBSAN, memory leak.
    MemorySafety,
    /// A locking bug: lockdep reports, illumos mutex panics and deadlocks.
    Locking,
    /// illumos `kernel heap corruption detected` and Linux bad page state.
    HeapCorruption,
    /// Anything else the reader recognises as a crash.
    Other,
}

impl std::fmt::Display for CrashKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("other"))
    }
}

/// How far the title can be trusted: where its function came from, if it has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The function is the first meaningful frame of a stack the report holds whole.
    #[default]
    Frame,
    /// The function comes from a stack that was cut off (the log ends inside the report).
    Truncated,
    /// The title names no function: the report holds no usable frame.
    NoFrame,
    /// The function comes from a stack found apart from the message (another block of the
    /// paste, after prose or a blank line): probably the same panic, not certainly.
    Guessed,
}

impl std::fmt::Display for Certainty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Certainty::Frame => "frame",
            Certainty::Truncated => "truncated",
            Certainty::NoFrame => "no_frame",
            Certainty::Guessed => "guessed",
        })
    }
}

impl Certainty {
    /// A sentence for people: what the certainty means for this title.
    pub fn explain(self) -> &'static str {
        match self {
            Certainty::Frame => "the function is the first meaningful frame of a whole stack",
            Certainty::Truncated => "the function comes from a stack that was cut off: frames may be missing",
            Certainty::NoFrame => "no stack frame: the title names no function",
            Certainty::Guessed => "the function comes from a stack found apart from the message: a guess",
        }
    }
}

/// One stack frame as printed on the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The function name (`zsd_apply_destroy`), or the raw hex PC when unresolved.
    pub function: String,
    /// The module: Linux `[vmm]`, illumos `genunix:`; `None` for the core kernel / unknown.
    pub module: Option<String>,
    /// The offset into the function, when printed.
    pub offset: Option<u64>,
    /// False for Linux `?` frames and unresolved PCs: they may be stale stack contents.
    pub reliable: bool,
}

impl Frame {
    /// `module:function` (illumos style) or the bare function name.
    pub fn qualified(&self) -> String {
        match &self.module {
            Some(m) => format!("{m}:{}", self.function),
            None => self.function.clone(),
        }
    }
}

/// A crash read off the console: the parts a kernel engineer looks at first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrashReport {
    /// The OS whose reader produced this report.
    pub os: Os,
    /// The class of crash.
    pub kind: CrashKind,
    /// The stable name of the bug: the masked message plus the guilty function
    /// (`kernel BUG in vmm_zsd_destroy`, `assertion failed: !zsd->vz_active in vmm_zsd_destroy`).
    pub title: String,
    /// The crash message as printed (first line of the report, prefixes stripped).
    pub message: String,
    /// The stack frames, innermost first.
    pub frames: Vec<Frame>,
    /// The report is truncated or mangled (stack missing, lines interleaved): trust the title less.
    pub corrupted: bool,
    /// Where the title's function came from (a whole stack, a cut one, none, a guess).
    #[serde(default)]
    pub certainty: Certainty,
    /// The report excerpt: the console lines the report was read from.
    pub text: String,
}

impl CrashReport {
    /// The title as people should read it: without syzkaller's ` in corrupted` placeholder,
    /// which names no function (the certainty says so instead).
    pub fn headline(&self) -> &str {
        self.title.strip_suffix(" in corrupted").unwrap_or(&self.title)
    }
}
