//! The illumos panic formats as data: where a report starts and ends, message kinds, masks,
//! and the panic-machinery frames that never name a bug (facts from `shared/docs/illumos-console.md`).
//!
//! # Rules (checked on `rig/testdata/real`, real pastes from public threads)
//!
//! - **Which frame names the bug.** The first *meaningful* frame of the stack: not panic or
//!   trap machinery ([`SKIP_FUNCTIONS`]), not a Rust panic frame ([`SKIP_PREFIXES`]:
//!   `core::panicking`, `rust_begin_unwind`, `core::option`, ...), not a string/copy helper or
//!   lock primitive that merely touched the bad pointer (`strcmp`, `bcopy`,
//!   `mutex_owner_running`), not a raw PC, not a frame mdb marks doubtful with `~`
//!   (`~assfail3+0xd0`), not a mis-symbolised one (`process_type+16c0d0`: offset over
//!   [`MAX_SANE_OFFSET`]). Rust symbols are demangled and their `::h<hash>` dropped first.
//! - **Where the stack is.** The first stack after the message in any printed form (console
//!   `fp mod:f+off ()`, mdb `$C` `fp f+0x..(args)` with or without `! demangle`, `::stack`
//!   after its prompt, fmdump's `panicstack` whose value goes on while a line ends in `|`);
//!   if none follows, the last stack printed *before* the message (`$C` typed before
//!   `::status`, up to 64 lines back).
//! - **How sure the title is** ([`crate::crash::Certainty`]): `no_frame` when no meaningful
//!   frame was found or the kind names none (deadman, hung pool); `guessed` when the message
//!   came from savecore's syslog line or a bare pasted line and the stack is mdb output with
//!   no mdb command before it (another block of the paste); `truncated` when the stack runs to
//!   the end of an unfinished report and stops before a thread entry point ([`STACK_BOTTOMS`]);
//!   `frame` otherwise.
//! - **Wrapped lines.** A terminal or mail wraps long lines: the `::status` panic message goes
//!   on up to the next field (`dump content:`) and is joined without a space (the wrap cuts
//!   words: `deref` + `erence`); a bare pasted message goes on over indented lines; wrapped
//!   `$C` arguments (a frame line with an open parenthesis) do not end the stack.
//! - **Long titles.** A message too long for the title is cut at a word with `...` so that the
//!   function, which tells bugs apart, is kept.

use crate::crash::CrashKind::{self, *};

/// The layout a report was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `panic[cpuN]/thread=ADDR: message` (live console, msgbuf, syslog).
    Banner,
    /// `fmdump -Vp`: `panicstr = message`, `panicstack = f () | g () | ...`.
    Fmdump,
    /// `mdb ::status`: `panic message: message`, then `$C` frames.
    MdbStatus,
    /// savecore's syslog line on the next boot: `reboot after panic: message` (no stack).
    Savecore,
    /// A panic message pasted without its banner (bug reports): assertion or BAD TRAP.
    Bare,
}

/// Lines that start a report; the `msg` group holds the panic message (may be empty: it then
/// follows on the next line).
pub const STARTS: &[(&str, Form)] = &[
    (r"panic\[cpu[0-9]+\]/thread=[0-9a-fA-F]+: ?(?P<msg>.*)$", Form::Banner),
    (r"^\s*panicstr = (?P<msg>.*)$", Form::Fmdump),
    (r"^\s*panic message: ?(?P<msg>.*)$", Form::MdbStatus),
    (r"reboot after panic: (?P<msg>.*)$", Form::Savecore),
    (r#"^\s*"panicstr": "(?P<msg>[^"]*)",?$"#, Form::Fmdump),
    (r"^\s*(?P<msg>assertion failed: .*, file: .*, line: [0-9]+.*)$", Form::Bare),
    (r"^\s*(?P<msg>BAD TRAP: type=[0-9a-f]+ .*)$", Form::Bare),
];

/// The cheap test run on every console line: any of these may start a report.
pub const PREFILTER: &str =
    r#"panic\[cpu|panicstr = |"panicstr": |panic message:|reboot after panic: |assertion failed: |BAD TRAP: type="#;

/// A wrapped message is joined over at most this many lines.
pub const MAX_WRAPPED_LINES: usize = 8;

/// Lines that close a report and belong to it: the dump's outcome, the reboot, a debugger prompt.
pub const END_AFTER: &[&str] = &[r"dump succeeded", r"dump failed", r"^\s*rebooting\.\.\.", r"^\s*\[[0-9]+\]> "];

/// Lines that belong to the next boot: the report ended before them.
pub const END_BEFORE: &[&str] = &[r"^\s*SunOS Release [0-9]", r"^\s*Loading kmdb", r"^\s*Welcome to kmdb"];

/// An unterminated tail that is a kmdb prompt waiting for input (`[3]> `).
pub const PROMPT: &str = r"^\s*\[[0-9]+\]> ?$";

/// Message kinds: (pattern, kind, whether the first meaningful frame is part of the title).
/// Deadman and hung-pool panics fire from a timer, so their stacks name nothing.
pub const KINDS: &[(&str, CrashKind, bool)] = &[
    (r"^assertion failed:", Assertion, true),
    (r"^BAD TRAP:", Trap, true),
    (r"mutex_enter: bad mutex|mutex_exit: not owner|recursive mutex_enter|lp=[0-9a-f]+ owner=", Locking, true),
    (r"^Deadlock: cycle in blocking chain", Locking, true),
    (r"^deadman: ", Lockup, false),
    (r"kernel heap corruption detected", HeapCorruption, true),
    (r"^NMI received", Panic, false),
    (r"I/O to pool '[^']*' appears to be hung", HungTask, false),
];

/// Masks applied to the message for the title, in order: what changes between builds and runs.
pub const MASKS: &[(&str, &str)] = &[
    // The assertion's file and line.
    (r",? file: [^,]*, line: [0-9]+", ""),
    // ASSERT3/VERIFY3 values: `(0x5 == 0x6)`.
    (r" \(0x[0-9a-fA-F]+ [^ ]+ 0x[0-9a-fA-F]+\)", ""),
    // BAD TRAP registers and module (the function names the module).
    (r" rp=[0-9a-fA-F]+", ""),
    (r" addr=[0-9a-fA-F]+", ""),
    (r#" occurred in module "[^"]*""#, ""),
    // Mutex panics: lock, owner and thread pointers.
    (r",? ?lp=[0-9a-fA-F]+ owner=[0-9a-fA-F]+ thread=[0-9a-fA-F]+", ""),
    // Timeouts and remaining addresses.
    (r"after [0-9]+ seconds", "after NUM seconds"),
    // Counters and indexes printed as `entry=0x1d6`, `index=0x3da5`.
    (r"=0x[0-9a-fA-F]+\b", "=NUM"),
    (r"\b(?:0x)?[0-9a-fA-F]{8,16}\b", "ADDR"),
    (r"[ ,]+$", ""),
];

/// Panic machinery: frames that say nothing about the bug (matched on the function name).
pub const SKIP_FUNCTIONS: &[&str] = &[
    "vpanic",
    "panic",
    "panicsys",
    "do_panic",
    "assfail",
    "assfail3",
    "die",
    "trap",
    "cmntrap",
    "_cmntrap",
    "mutex_panic",
    "mutex_vector_enter",
    "mutex_vector_exit",
    "mutex_enter",
    "mutex_exit",
    "fm_panic",
    "cmn_err",
    "vcmn_err",
    "kmem_error",
    "kmem_free",
    "kmem_cache_free",
    "zfs_panic_recover",
    "turnstile_block",
    "deadman",
    "mutex_owner_running",
    "strcmp",
    "strncmp",
    "strlen",
    "strcpy",
    "strncpy",
    "bcopy",
    "bzero",
    "bcmp",
    "kcopy",
    "ovbcopy",
    "memcpy",
    "memset",
    "memmove",
    "rust_begin_unwind",
    "rust_panic",
    "__rust_start_panic",
];

/// Name prefixes of machinery frames: mis-symbolised trap frames
/// (`unix:real_mode_stop_cpu_stage2_end+9e23`) and Rust's panic path, demangled.
pub const SKIP_PREFIXES: &[&str] = &[
    "real_mode_stop_cpu_stage2_end",
    "core::panicking::",
    "core::option::",
    "core::result::",
    "core::cell::panic",
    "core::slice::index::",
    "core::str::slice_error",
    "std::panicking::",
    "std::rt::",
    "__rustc::",
];

/// An offset this large means the symbol is wrong (`genunix:process_type+16c0d0` is assfail).
pub const MAX_SANE_OFFSET: u64 = 0x10000;

/// A thread's entry points: a stack that ends in one of these is whole (name prefixes).
pub const STACK_BOTTOMS: &[&str] =
    &["thread_start", "sys_syscall", "brand_sys_", "_sys_sysenter", "sys_sysenter", "_sys_rtt"];

/// Lines that may sit inside a stack without ending it.
pub const STACK_NOISE: &[&str] = &["Warning - stack not written to the dump buffer", ">> warning!", ">> mis-aligned"];
