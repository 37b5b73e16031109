//! Linux titles: the compiled pattern table, and the title/guilty-frame extraction over a report.

use super::patterns::{self as pat, Extractor, OopsSpec};
use crate::crash::CrashKind;
use regex::{Captures, Regex};
use std::sync::LazyLock;

const PC: &str = r"\[<?(?:0x)?[0-9a-f]+>?\]";
const FUNC: &str = r"([a-zA-Z0-9_]+)(?:\.|\+)";
const SRC: &str = r"([a-zA-Z0-9_/.\-]+\.[a-z]+:[0-9]+)";
const RIP: &str = r"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?{{PC}} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))";
const CALLTRACE: &str = r"(?:Call (?:T|t)race:)|(?:Backtrace:)";

/// Expands the `{{...}}` templates of the pattern table and compiles the regex.
pub fn compile(re: &str) -> Regex {
    let re = re
        .replace("{{RIP}}", RIP)
        .replace("{{CALLTRACE}}", CALLTRACE)
        .replace("{{ADDR}}", "0x[0-9a-f]+")
        .replace("{{PC}}", PC)
        .replace("{{FUNC}}", FUNC)
        .replace("{{SRC}}", SRC);
    Regex::new(&re).unwrap_or_else(|e| panic!("bad crash pattern {re:?}: {e}"))
}

fn any_of(list: &[&str]) -> Regex {
    compile(&list.iter().map(|s| format!("(?:{s})")).collect::<Vec<_>>().join("|"))
}

/// One step of a stack rule.
pub enum Part {
    /// Scan for a line matching this; its captures are frames.
    Re(Regex),
    /// Parse frames until the next stack start.
    Parse,
}

/// A compiled [`pat::StackSpec`].
pub struct Stack {
    parts: Vec<Part>,
    parts2: Vec<Part>,
    skip: Regex,
    extractor: Extractor,
}

/// A compiled [`pat::FormatSpec`].
pub struct Format {
    title: Regex,
    report: Option<Regex>,
    fmt: &'static str,
    stack: Option<Stack>,
    /// No stack expected.
    pub no_stack_trace: bool,
    corrupted: bool,
    /// The kind of crash this format describes.
    pub kind: CrashKind,
}

/// A compiled [`OopsSpec`].
pub struct Oops {
    /// The header substring.
    pub header: &'static str,
    /// The default kind.
    pub kind: CrashKind,
    formats: Vec<Format>,
    suppress: Option<Regex>,
}

impl Oops {
    /// Whether `line` starts a crash of this family.
    pub fn matches(&self, line: &str) -> bool {
        line.contains(self.header) && !self.suppress.as_ref().is_some_and(|re| re.is_match(line))
    }
}

/// Everything compiled once.
pub struct Tables {
    /// The oops families in matching order.
    pub oopses: Vec<Oops>,
    /// [`pat::REPORT_START_IGNORES`].
    pub start_ignores: Vec<&'static str>,
    stack_starts: Regex,
    stack_start_each: Vec<Regex>,
    frame_lines: Vec<Regex>,
    corrupted_lines: Regex,
    stall_anchors: Regex,
    /// A frame line, for the corrupted check: `f+0x1/0x2` after optional PCs.
    pub stack_frame: Regex,
    timestamp: Regex,
    call_trace: Regex,
}

fn compile_parts(parts: &[&str]) -> Vec<Part> {
    parts.iter().map(|p| if *p == "{{STACK}}" { Part::Parse } else { Part::Re(compile(p)) }).collect()
}

fn compile_oops(o: &OopsSpec) -> Oops {
    let formats = o
        .formats
        .iter()
        .map(|f| Format {
            title: compile(f.title),
            report: f.report.map(compile),
            fmt: f.fmt,
            stack: f.stack.map(|s| Stack {
                parts: compile_parts(s.parts),
                parts2: compile_parts(s.parts2),
                skip: any_of(&[pat::SKIP_FRAMES, s.skip].concat()),
                extractor: s.extractor,
            }),
            no_stack_trace: f.no_stack_trace,
            corrupted: f.corrupted,
            kind: f.kind.unwrap_or(o.kind),
        })
        .collect();
    let suppress = (!o.suppress.is_empty()).then(|| any_of(o.suppress));
    Oops { header: o.header, kind: o.kind, formats, suppress }
}

/// The compiled tables.
pub static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    oopses: pat::OOPSES.iter().map(compile_oops).collect(),
    start_ignores: pat::REPORT_START_IGNORES.to_vec(),
    stack_starts: any_of(pat::STACK_STARTS),
    stack_start_each: pat::STACK_STARTS.iter().map(|s| compile(s)).collect(),
    frame_lines: pat::FRAME_LINES.iter().map(|s| compile(s)).collect(),
    corrupted_lines: any_of(pat::CORRUPTED_LINES),
    stall_anchors: any_of(pat::STALL_ANCHORS),
    stack_frame: compile(
        r"^ *(?:\[<?(?:[0-9a-f]+)>?\] ?){0,2}[ \t]+(?:[0-9]+:)?([a-zA-Z0-9_.]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)",
    ),
    timestamp: compile(r"\[ *[0-9]+\.[0-9]+\]"),
    call_trace: compile(r"Call (?:T|t)race|backtrace|Backtrace"),
});

/// The title of a report and what went into it.
pub struct Description<'t> {
    /// The unmasked title.
    pub title: String,
    /// Why the report looks mangled, if it does.
    pub corrupted: Option<&'static str>,
    /// The format that produced the title.
    pub format: Option<&'t Format>,
}

/// Finds the earliest-matching format of `oops` in `text` and renders its title.
pub fn describe<'t>(oops: &'t Oops, text: &str) -> Description<'t> {
    let mut start = text.len();
    let mut desc: Option<Description<'t>> = None;
    let mut matched_title = false;
    for f in &oops.formats {
        let Some(m) = f.title.find(text) else {
            continue;
        };
        if m.start() > start || (m.start() == start && desc.is_some()) {
            continue;
        }
        if m.start() < start {
            desc = None;
            start = m.start();
        }
        matched_title = true;
        let caps = match &f.report {
            Some(re) => match re.captures(text) {
                Some(c) => c,
                None => continue,
            },
            None => match f.title.captures(text) {
                Some(c) => c,
                None => continue,
            },
        };
        let mut args: Vec<String> = groups(&caps);
        let mut corrupted = None;
        if let Some(stack) = &f.stack {
            let at = caps.get(0).map_or(0, |m| m.start());
            let (frames, ok) = guilty_frames(stack, &text[at..]);
            if !ok {
                corrupted = Some("extracted no frames");
            }
            args.extend(frames);
        }
        let corrupted = corrupted.or(f.corrupted.then_some("report format is marked as corrupted"));
        desc = Some(Description { title: render(f.fmt, &args), corrupted, format: Some(f) });
    }
    if let Some(d) = desc {
        return d;
    }
    let title = text
        .find(oops.header)
        .map(|pos| text[pos..].lines().next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let corrupted = matched_title.then_some("matched title but not report regexp");
    Description { title, corrupted, format: None }
}

fn groups(caps: &Captures<'_>) -> Vec<String> {
    caps.iter().skip(1).map(|g| g.map_or(String::new(), |m| m.as_str().to_string())).collect()
}

/// Fills `{1}`, `{2}`... of a title template.
fn render(fmt: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(fmt.len() + 32);
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| Some((close, after[..close].parse::<usize>().ok()?))) {
            Some((close, n)) => {
                out.push_str(n.checked_sub(1).and_then(|i| args.get(i)).map_or("", |s| s.as_str()));
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn guilty_frames(stack: &Stack, text: &str) -> (Vec<String>, bool) {
    let first = walk(stack, &stack.parts, text);
    if first.1 || stack.parts2.is_empty() {
        return first;
    }
    walk(stack, &stack.parts2, text)
}

/// Walks the stack rule's parts over the lines of `text`, collecting the guilty frame of each
/// parsed stack (syzkaller's algorithm).
fn walk(stack: &Stack, parts: &[Part], text: &str) -> (Vec<String>, bool) {
    let t = &*TABLES;
    let mut lines = text.lines();
    let (mut frames, mut results, mut ok, mut traces) = (Vec::new(), Vec::new(), true, 0);
    let mut idx = 0;
    'part: loop {
        if idx == parts.len() || (matches!(parts[idx], Part::Parse) && traces > 0) {
            match pick(stack, &frames) {
                Some(f) => results.push(f),
                None => {
                    results.push("corrupted".to_string());
                    ok = false;
                }
            }
            frames.clear();
        }
        if idx == parts.len() {
            break;
        }
        match &parts[idx] {
            Part::Parse => {
                traces += 1;
                for ln in lines.by_ref() {
                    if t.corrupted_lines.is_match(ln) {
                        ok = false;
                        idx += 1;
                        continue 'part;
                    }
                    if t.stack_starts.is_match(ln) {
                        idx += 1;
                        continue 'part;
                    }
                    if let Some(Part::Re(next)) = parts.get(idx + 1)
                        && let Some(c) = next.captures(ln)
                    {
                        push_frames(&mut frames, &c, &stack.skip);
                        idx += 2;
                        continue 'part;
                    }
                    if let Some(c) = t.frame_lines.iter().find_map(|re| re.captures(ln)) {
                        push_frames(&mut frames, &c, &stack.skip);
                    }
                }
            }
            Part::Re(re) => {
                for ln in lines.by_ref() {
                    if t.corrupted_lines.is_match(ln) {
                        ok = false;
                        idx += 1;
                        continue 'part;
                    }
                    if let Some(c) = re.captures(ln) {
                        push_frames(&mut frames, &c, &stack.skip);
                        break;
                    }
                }
            }
        }
        idx += 1;
    }
    (results, ok)
}

fn push_frames(frames: &mut Vec<String>, caps: &Captures<'_>, skip: &Regex) {
    for m in caps.iter().skip(1).flatten() {
        if skip.is_match(m.as_str()) {
            continue;
        }
        let mut name = m.as_str();
        for p in super::patterns::STRIP_FRAME_PREFIXES {
            name = name.strip_prefix(p).unwrap_or(name);
        }
        frames.push(name.to_string());
    }
}

fn pick(stack: &Stack, frames: &[String]) -> Option<String> {
    let first = frames.first()?;
    match stack.extractor {
        Extractor::First => Some(first.clone()),
        Extractor::Stall => stall_frame(frames),
        Extractor::HungTask => hung_frame(frames),
    }
}

fn stall_frame(frames: &[String]) -> Option<String> {
    let mut prev = &frames[0];
    for frame in frames {
        if TABLES.stall_anchors.is_match(frame) {
            if frame.contains("smp_call_function") {
                return Some("smp_call_function".to_string());
            }
            return Some(prev.clone());
        }
        prev = frame;
    }
    None
}

fn hung_frame(frames: &[String]) -> Option<String> {
    for frame in frames {
        if let Some((_, with)) = pat::HUNG_ANCHORS.iter().find(|(a, _)| frame.contains(a)) {
            return Some(with.map_or_else(|| frame.clone(), str::to_string));
        }
    }
    frames.iter().find(|f| !pat::HUNG_SKIP.iter().any(|s| f.contains(s))).cloned()
}

/// Why a titled report looks truncated or mangled (syzkaller's checks), if it does.
pub fn corruption(title: &str, text: &str, format: Option<&Format>) -> Option<&'static str> {
    let t = &*TABLES;
    if t.timestamp.is_match(title) {
        return Some("title matches corrupted regexp");
    }
    let format = format?;
    if format.no_stack_trace {
        return None;
    }
    if !t.call_trace.is_match(text) {
        return Some("no stack trace in report");
    }
    // After each stack keyword, at least one frame within the next lines.
    for key in &t.stack_start_each {
        let Some(m) = key.find(text) else { continue };
        let mut lines = text[m.start()..].lines();
        if text[m.start()..].split('\n').take(4).count() < 4 {
            return Some("call trace is missed");
        }
        lines.next();
        let mut found = false;
        for ln in lines.take(15) {
            if t.stack_starts.is_match(ln) {
                break;
            }
            if ln.contains("(stack is not available)") || t.stack_frame.is_match(ln) {
                found = true;
                break;
            }
        }
        if !found {
            return Some("no frames in a stack trace");
        }
    }
    None
}
