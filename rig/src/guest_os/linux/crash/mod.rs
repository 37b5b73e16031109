//! The Linux console reader: where a report starts and ends, which lines belong to it, its title.

mod patterns;
mod stall;
#[cfg(test)]
mod tests;
mod title;

use crate::crash::title::mask;
use crate::crash::{Certainty, CrashKind, CrashReport, Dialect, End, Frame, Os};
use patterns as pat;
use regex::Regex;
use std::sync::LazyLock;
use title::{Oops, TABLES, corruption, describe};

/// At most this many frames are kept per report.
const MAX_FRAMES: usize = 64;

/// Matches any oops header: the cheap test run on every console line.
static PREFILTER: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    let alts: Vec<String> = pat::OOPSES.iter().map(|o| regex::escape(o.header)).collect();
    regex::bytes::Regex::new(&alts.join("|")).expect("prefilter regex")
});

/// The printk prefix: `[  12.345678]`, optionally `[ T123]`/`[ C1]` (the caller context).
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\*\* [0-9]+ printk messages dropped \*\* )?(?:.* login: )?(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\](\[ *(?:C|T)[0-9]+\])? ",
    )
    .expect("prefix regex")
});

/// A syslog prefix on a kernel line: `Nov 11 21:33:58 storage1 kernel: `, or with an RFC 3339
/// stamp.
static SYSLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Z][a-z]{2} +[0-9]+ [0-9:]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9:]{4,5})?) \S+ kernel: ",
    )
    .expect("syslog regex")
});

static QUESTIONABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\[<[0-9a-f]+>\])? \? ").expect("questionable regex"));

static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:\[<?(?:0x)?[0-9a-f]+>?\] ?)*(\? )?([A-Za-z0-9_.]+)\+0x([0-9a-f]+)/0x[0-9a-f]+(?: \[([A-Za-z0-9_]+)\])?")
        .expect("frame regex")
});

static RIP_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:RIP|IP|NIP|pc) ?: ?(?:[0-9a-f]{4}:)?(?:\[<?[0-9a-f]+>?\] +)*([A-Za-z0-9_.]+)\+0x([0-9a-f]+)/0x[0-9a-f]+(?: \[([A-Za-z0-9_]+)\])?")
        .expect("rip regex")
});

/// Where a line came from, per its printk prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Context {
    /// No timestamp prefix.
    Bare,
    /// A timestamp but no caller id.
    Console,
    /// `[ T123]` (a task) or `[ C1]` (a CPU).
    Caller(String),
}

fn context(line: &str) -> Context {
    match PREFIX.captures(line) {
        None => Context::Bare,
        Some(c) => c.get(1).map_or(Context::Console, |m| Context::Caller(m.as_str().to_string())),
    }
}

/// Strips the printk prefix; flags `? func` frames (stale stack contents).
fn strip<'l>(line: &'l str, ctx: &Context) -> (&'l str, bool) {
    if *ctx == Context::Bare {
        return (line, false);
    }
    let line = line.find("] ").map_or(line, |i| &line[i + 2..]);
    if !line.contains("<EOI>") && QUESTIONABLE.is_match(line) {
        let at = line.find(" ? ").map_or(0, |i| i + 2);
        return (&line[at..], true);
    }
    (line, false)
}

/// The oops family that `line` starts, if any.
fn oops_of(line: &str) -> Option<&'static Oops> {
    if pat::GLOBAL_IGNORES.iter().any(|g| line.contains(g)) {
        return None;
    }
    TABLES.oopses.iter().find(|o| o.matches(line))
}

/// Substrings typical of a Linux console, with a weight (for telling which OS wrote a text).
const MARKERS: &[(&str, u32)] = &[
    ("Linux version", 5),
    ("Call Trace:", 3),
    ("RIP: ", 2),
    ("Kernel panic - not syncing", 5),
    ("BUG: ", 2),
    ("WARNING: CPU", 3),
    ("Modules linked in", 3),
    ("systemd", 1),
    ("kernel BUG at", 4),
];

/// The Linux dialect of the streaming reader.
pub struct Linux;

/// The Linux console's name.
pub const LINUX: Os = Os::new("linux");

impl Dialect for Linux {
    fn os(&self) -> Os {
        LINUX
    }

    fn markers(&self) -> &'static [(&'static str, u32)] {
        MARKERS
    }

    /// The line Linux prints last in `panic()`.
    fn end_of_panic(&self) -> Option<&'static str> {
        Some("---[ end Kernel panic")
    }

    /// A panic, an assertion, or any report holding `Kernel panic - not syncing` (an oops the
    /// kernel panics on, `panic_on_oops`); a WARNING or an oops the kernel survives is not.
    fn is_fatal(&self, r: &CrashReport) -> bool {
        matches!(r.kind, CrashKind::Panic | CrashKind::Assertion) || r.text.contains("Kernel panic - not syncing")
    }

    fn marks(&self, line: &str) -> bool {
        const WORDS: &[&str] = &["Kernel panic", "BUG:", "Oops", "RIP:", "assertion failed", "general protection"];
        WORDS.iter().any(|w| line.contains(w))
    }

    /// A soft lockup, an RCU stall, a hung task or a hard lockup.
    fn is_stall_report(&self, line: &str) -> bool {
        stall::is_stall_report(line)
    }

    /// A line with the printk timestamp.
    fn is_kernel_line(&self, line: &str) -> bool {
        stall::is_kernel_line(line)
    }

    /// `Kernel panic - not syncing: Fatal exception` is the follow-on of an oops or BUG.
    fn is_follow_on(&self, r: &CrashReport) -> bool {
        r.message.contains("Fatal exception")
    }

    fn may_start(&self, raw: &[u8]) -> bool {
        PREFILTER.is_match(raw)
    }

    fn normalize(&self, line: String, out: &mut Vec<String>) {
        // `Nov 11 21:33:58 host kernel: ` (syslog) before the printk text.
        out.push(match SYSLOG.find(&line) {
            Some(m) => line[m.end()..].to_string(),
            None => line,
        });
    }

    fn start(&self, line: &str) -> Option<CrashKind> {
        oops_of(line).map(|o| o.kind)
    }

    fn end(&self, line: &str) -> Option<End> {
        pat::END_MARKERS.iter().any(|m| line.contains(m)).then_some(End::After)
    }

    fn build(&self, lines: &[String], first: usize, ended: bool) -> CrashReport {
        build(&lines[first..], ended)
    }
}

/// The report text the title is read from: syzkaller's selection of lines.
struct Selected {
    text: String,
    /// Where a second, unrelated report starts (title search stops there).
    end: usize,
    stripped: Vec<(String, bool)>,
}

fn select(lines: &[String]) -> Selected {
    let ctx0 = context(&lines[0]);
    let (mut text, mut end) = (String::new(), 0);
    let mut stripped = Vec::with_capacity(lines.len());
    let (mut second, mut text_lines, mut skip_text, mut cpu_traceback) = (false, 0, false, false);
    for (i, line) in lines.iter().enumerate() {
        let ctx = context(line);
        let (s, questionable) = strip(line, &ctx);
        stripped.push((s.to_string(), questionable));
        let first = i == 0;
        if !first && !second {
            second = match oops_of(line) {
                Some(_) => !TABLES.start_ignores.iter().any(|ig| line.contains(ig)),
                None => pat::INFO_WITH_STACK.iter().any(|m| line.contains(m)),
            };
        }
        let other_cpu = cpu_traceback && matches!(&ctx, Context::Caller(c) if c.contains('C'));
        if !first && (questionable || (ctx != ctx0 && !other_cpu)) {
            continue;
        }
        text_lines += 1;
        let mut skip = skip_text;
        if line.contains("Disabling lock debugging due to kernel taint") {
            skip = true;
        } else if line.contains("Sending NMI from CPU") {
            cpu_traceback = true;
        } else if text_lines > 22
            && (line.contains("Kernel panic - not syncing")
                || line.contains("WARNING: possible circular locking dependency detected"))
        {
            skip_text = true;
            skip = true;
        }
        if !first && skip {
            continue;
        }
        text.push_str(s);
        text.push('\n');
        if !second || matches!(ctx0, Context::Caller(_)) {
            end = text.len();
        }
    }
    Selected { text, end, stripped }
}

fn build(lines: &[String], ended: bool) -> CrashReport {
    let sel = select(lines);
    let message = sel.stripped[0].0.clone();
    let oops = oops_of(&lines[0]);
    let (mut title, mut corrupted, mut kind) = (String::new(), true, CrashKind::Other);
    if let Some(oops) = oops {
        let mut d = describe(oops, &sel.text[..sel.end]);
        if d.title.is_empty() {
            d = describe(oops, &lines.join("\n"));
        }
        corrupted = d.corrupted.is_some() || corruption(&d.title, &sel.text, d.format).is_some();
        kind = d.format.map_or(oops.kind, |f| f.kind);
        title = mask(&d.title);
    }
    if title.is_empty() {
        title = mask(&message);
    }
    let frames = frames(&sel.stripped);
    if title.starts_with("BUG: soft lockup")
        && let Some(rest) = title.strip_suffix(" in corrupted")
        && let Some(f) = frames.first().filter(|f| f.reliable)
    {
        // Cut before (or without) its call trace, a lockup is named by the one frame it has.
        title = format!("{rest} in {}", f.function);
    }
    let cut_in_stack =
        !ended && sel.stripped.iter().rev().find(|(l, _)| !l.trim().is_empty()).is_some_and(|(l, _)| FRAME.is_match(l));
    let certainty = certainty(&title, corrupted || cut_in_stack);
    CrashReport { os: LINUX, kind, title, message, frames, corrupted, certainty, text: lines.join("\n") }
}

/// A syzkaller-style title names its function after ` in ` (`corrupted` when none was found).
fn certainty(title: &str, corrupted: bool) -> Certainty {
    if title.ends_with(" in corrupted") || !title.contains(" in ") {
        Certainty::NoFrame
    } else if corrupted {
        Certainty::Truncated
    } else {
        Certainty::Frame
    }
}

/// The frames of the first stack: the `RIP:` frame, then the `Call Trace:` section.
fn frames(lines: &[(String, bool)]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut in_trace = false;
    for (line, questionable) in lines {
        if out.len() >= MAX_FRAMES {
            break;
        }
        if !in_trace {
            if out.is_empty()
                && let Some(c) = RIP_FRAME.captures(line)
            {
                out.push(frame(&c[1], &c[2], c.get(3).map(|m| m.as_str()), true));
                continue;
            }
            in_trace = line.contains("Call Trace") || line.contains("Call trace") || line.ends_with("backtrace:");
            continue;
        }
        let l = line.trim();
        if l.is_empty() || matches!(l, "<TASK>" | "<IRQ>" | "</IRQ>" | "<EOI>" | "<NMI>" | "</NMI>") {
            continue;
        }
        match FRAME.captures(line) {
            Some(c) => {
                let reliable = !questionable && c.get(1).is_none();
                out.push(frame(&c[2], &c[3], c.get(4).map(|m| m.as_str()), reliable));
            }
            None => break,
        }
    }
    out
}

fn frame(function: &str, offset: &str, module: Option<&str>, reliable: bool) -> Frame {
    Frame {
        function: function.to_string(),
        module: module.map(str::to_string),
        offset: u64::from_str_radix(offset, 16).ok(),
        reliable,
    }
}
