//! The illumos console reader: panic banners in their console, msgbuf and syslog layouts,
//! fmdump/mdb/savecore forms, `module:function+offset ()` frames, and titles.

mod patterns;
mod stack;

use crate::crash::title::{MAX_TITLE_LEN, sanitize};
use crate::crash::{Certainty, CrashKind, CrashReport, Dialect, End, Frame, Os};
use patterns::{self as pat, Form};
use regex::Regex;
use std::sync::LazyLock;

struct Tables {
    prefilter: regex::bytes::Regex,
    starts: Vec<(Regex, Form)>,
    end_after: Regex,
    end_before: Regex,
    prompt: Regex,
    kinds: Vec<(Regex, CrashKind, bool)>,
    masks: Vec<(Regex, &'static str)>,
    syslog: Regex,
    field: Regex,
}

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap_or_else(|e| panic!("bad illumos pattern {s:?}: {e}"))
}

fn any(list: &[&str]) -> Regex {
    re(&list.iter().map(|s| format!("(?:{s})")).collect::<Vec<_>>().join("|"))
}

static T: LazyLock<Tables> = LazyLock::new(|| Tables {
    prefilter: regex::bytes::Regex::new(pat::PREFILTER).expect("illumos prefilter"),
    starts: pat::STARTS.iter().map(|(s, f)| (re(s), *f)).collect(),
    end_after: any(pat::END_AFTER),
    end_before: any(pat::END_BEFORE),
    prompt: re(pat::PROMPT),
    kinds: pat::KINDS.iter().map(|(s, k, by)| (re(s), *k, *by)).collect(),
    masks: pat::MASKS.iter().map(|(s, w)| (re(s), *w)).collect(),
    // `Nov 29 16:40:31 headnode genunix: [ID 655072 kern.notice] `, or with an RFC 3339 stamp
    // (`2026-11-29T16:40:31.123456+00:00 headnode ...`, rsyslog's file format), optionally
    // after a forwarded message's `<PRI>`.
    syslog: re(
        r"^(?:<[0-9]{1,3}>)?(?:(?:[A-Z][a-z]{2} +[0-9]+ [0-9:]+|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?) \S+ )?[\w.-]+(?:\[[0-9]+\])?: \[ID [0-9]+ [a-z0-9]+\.[a-z]+\] ?",
    ),
    // an mdb `::status` field after the panic message: `dump content: kernel pages only`
    field: re(
        r"^\s*(?:dump content|panic message|operating system|image uuid|debugging crash dump|build version|git \w+):",
    ),
});

/// The illumos dialect of the streaming reader.
pub struct Illumos;

/// The start form and message of a line, if it starts a report.
fn start_of(line: &str) -> Option<(Form, String)> {
    T.starts.iter().find_map(|(re, form)| {
        let c = re.captures(line)?;
        Some((*form, c.name("msg").map_or("", |m| m.as_str()).trim().to_string()))
    })
}

fn kind_of(message: &str) -> (CrashKind, bool) {
    T.kinds.iter().find(|(re, _, _)| re.is_match(message)).map_or((CrashKind::Panic, true), |(_, k, by)| (*k, *by))
}

/// Substrings typical of an illumos console, with a weight (for telling which OS wrote a text).
const MARKERS: &[(&str, u32)] = &[
    ("panic[cpu", 5),
    ("SunOS Release", 5),
    ("illumos", 3),
    ("SmartOS", 3),
    ("genunix:", 2),
    ("unix:", 1),
    ("kern.notice]", 2),
    ("panicstr =", 5),
    ("panicstack =", 5),
    ("Loading kmdb", 5),
    ("dumping to /dev/", 3),
    ("vpanic", 2),
    ("BAD TRAP: type=", 4),
    ("assertion failed: ", 1),
];

/// The illumos console's name.
pub const ILLUMOS: Os = Os::new("illumos");

impl Dialect for Illumos {
    fn os(&self) -> Os {
        ILLUMOS
    }

    fn markers(&self) -> &'static [(&'static str, u32)] {
        MARKERS
    }

    fn marks(&self, line: &str) -> bool {
        line.contains("panic[") || line.contains("assertion failed")
    }

    /// Every report under a `panic[cpuN]/thread=` banner is a kernel panic, whatever its
    /// message's kind: a BAD TRAP, a mutex panic, a deadman, heap corruption or a hung pool
    /// panic the machine as an assertion does. Other forms go by kind; savecore's `reboot
    /// after panic` of a past boot is a record of a panic, not a panic now.
    fn is_fatal(&self, r: &CrashReport) -> bool {
        matches!(r.kind, CrashKind::Panic | CrashKind::Assertion)
            || r.text.lines().any(|l| matches!(start_of(l), Some((Form::Banner, _))))
    }

    /// As illumos prints them: `genunix:zone_destroy+124`.
    fn frame_text(&self, f: &Frame) -> String {
        match &f.module {
            Some(m) => format!("{m}:{}{}", f.function, f.offset.map(|o| format!("+{o:x}")).unwrap_or_default()),
            None => {
                let offset = f.offset.map(|o| format!("+0x{o:x}")).unwrap_or_default();
                format!("{}{offset}", f.function)
            }
        }
    }

    fn may_start(&self, raw: &[u8]) -> bool {
        T.prefilter.is_match(raw)
    }

    fn normalize(&self, line: String, out: &mut Vec<String>) {
        let stripped = if line.contains("[ID ") { T.syslog.replace(&line, "").into_owned() } else { line };
        if !stripped.contains("#01") && !stripped.contains("^M") {
            out.push(stripped);
            return;
        }
        for part in stripped.split("#012") {
            let part = part.replace("#015", "").replace("#011", "\t").replace("^M", "");
            if !part.trim().is_empty() {
                out.push(part.trim_end().to_string());
            }
        }
    }

    fn start(&self, line: &str) -> Option<CrashKind> {
        let (_, message) = start_of(line)?;
        Some(if message.is_empty() { CrashKind::Panic } else { kind_of(&message).0 })
    }

    fn end(&self, line: &str) -> Option<End> {
        if T.end_after.is_match(line) {
            Some(End::After)
        } else if T.end_before.is_match(line) {
            Some(End::Before)
        } else {
            None
        }
    }

    fn end_on_tail(&self, tail: &str) -> bool {
        T.prompt.is_match(tail)
    }

    fn keep_before(&self, raw: &[u8]) -> bool {
        // Candidates for a `$C` typed before `::status`: frame lines and mdb prompts.
        let panicstack = raw.windows(10).any(|w| w == b"panicstack");
        panicstack
            || (raw.first().is_some_and(|b| b.is_ascii_hexdigit() || *b == b'>' || *b == b' ')
                && raw.len() < 512
                && (raw.ends_with(b")") || raw.ends_with(b"(") || raw.contains(&b'>')))
    }

    fn build(&self, lines: &[String], first: usize, ended: bool) -> CrashReport {
        build(lines, first, ended)
    }
}

fn build(lines: &[String], first: usize, ended: bool) -> CrashReport {
    let (form, message) = message_of(lines, first);
    let stack = stack::find(lines, first);
    // The excerpt starts at the message unless the stack was printed before it.
    let text = if stack.before { lines.join("\n") } else { lines[first..].join("\n") };
    let frames = stack.frames;
    let (kind, by_stack) = kind_of(&message);
    let named = if by_stack { frames.iter().find(|f| meaningful(f)) } else { None };
    let title = fit(&mask(&message), named.map(|f| f.function.as_str()));
    let certainty = match named {
        None => Certainty::NoFrame,
        Some(_) if stack.unprompted_mdb && matches!(form, Form::Bare | Form::Savecore) => Certainty::Guessed,
        Some(_) if form == Form::Savecore => Certainty::Guessed,
        Some(_) if stack.at_end && !ended => Certainty::Truncated,
        Some(_) => Certainty::Frame,
    };
    let stack_missing = frames.is_empty();
    let corrupted = form == Form::Savecore || stack_missing || (!ended && frames.iter().all(|f| !meaningful(f)));
    CrashReport { os: ILLUMOS, kind, title, message, frames, corrupted, certainty, text }
}

/// The form and the whole message of the report whose first line is `lines[first]`: in the
/// msgbuf/syslog layout the message is on the next line; in `::status` and in a pasted bare
/// message it may go on over wrapped lines, joined back here.
fn message_of(lines: &[String], first: usize) -> (Form, String) {
    let (form, mut message) = start_of(&lines[first]).unwrap_or((Form::Bare, lines[first].trim().to_string()));
    let mut rest = lines[first + 1..].iter();
    if message.is_empty() {
        message = rest.by_ref().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or_default().to_string();
        if form != Form::MdbStatus {
            return (form, message);
        }
    }
    if matches!(form, Form::MdbStatus | Form::Bare) {
        for next in rest.take(pat::MAX_WRAPPED_LINES) {
            if !wrapped(form, next) {
                break;
            }
            message.push_str(if form == Form::Bare { next.as_str() } else { next.trim_end() });
        }
    }
    (form, message.trim().to_string())
}

/// Whether `next` carries on a wrapped message: in `::status` any line up to the next field
/// (`dump content:`) or prompt; after a bare message, an indented line that is no frame.
fn wrapped(form: Form, next: &str) -> bool {
    if next.trim().is_empty() || T.field.is_match(next) || next.trim_start().starts_with('>') {
        return false;
    }
    form == Form::MdbStatus || next.starts_with([' ', '\t'])
}

/// The title: the masked message and the function; a message too long for both is cut at a
/// word with `...` so that the function is never the part that is lost.
fn fit(message: &str, function: Option<&str>) -> String {
    let Some(function) = function else { return sanitize(message) };
    let tail = format!(" in {function}");
    let room = MAX_TITLE_LEN.saturating_sub(tail.len() + 3);
    if message.len() <= MAX_TITLE_LEN - tail.len() {
        return sanitize(&format!("{message}{tail}"));
    }
    let mut cut = room;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = message[..cut].rsplit_once(' ').map_or(&message[..cut], |(h, _)| h);
    sanitize(&format!("{head}...{tail}"))
}

/// Masks the parts of a panic message that change between builds and runs.
fn mask(message: &str) -> String {
    let mut s = message.to_string();
    for (re, with) in &T.masks {
        s = re.replace_all(&s, *with).into_owned();
    }
    s
}

/// A frame that may name the bug: not panic machinery, not mis-symbolised, not a raw PC.
fn meaningful(f: &Frame) -> bool {
    f.reliable
        && !pat::SKIP_FUNCTIONS.contains(&f.function.as_str())
        && !pat::SKIP_PREFIXES.iter().any(|p| f.function.starts_with(p))
        && f.offset.is_none_or(|o| o < pat::MAX_SANE_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::read_all;

    const LIVE: &str = "\n\rpanic[cpu3]/thread=fffffe17a84c8200: assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162\n\n\
fffffe0021b5cbf0 genunix:process_type+16c0d0 ()\n\
fffffe0021b5cc20 vmm:vmm_zsd_destroy+e8 ()\n\
fffffe0021b5cca0 genunix:zsd_apply_destroy+165 ()\n\
fffffe0021b5cf00 unix:brand_sys_syscall+320 ()\n\n\
dumping to /dev/zvol/dsk/zones/dump, offset 65536, content: kernel\n\
dumping: 0:02 100% done\n100% done: 123456 pages dumped, dump succeeded\nrebooting...\n";

    #[test]
    fn live_console_assertion() {
        let r = read_all(&Illumos, LIVE.as_bytes());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].title, "assertion failed: !zsd->vz_active in vmm_zsd_destroy");
        assert_eq!(r[0].kind, CrashKind::Assertion);
        assert_eq!(r[0].frames.len(), 4);
        assert!(!r[0].corrupted);
        assert!(r[0].text.ends_with("dump succeeded"), "the dump outcome completes the report");
    }

    #[test]
    fn both_dump_progress_forms() {
        // The parallel-dump era prints `dumping: M:SS NN% done`; the newer dumpsubr.c prints
        // `\rM:SS NN% done` and `\r NN% done: ...` (illumos-gate usr/src/uts/common/os/dumpsubr.c).
        let new = LIVE.replace(
            "dumping: 0:02 100% done\n100% done: 123456 pages dumped",
            "\r 0:01  37% done\r 0:02 100% done\r 100% done: 123456 pages dumped",
        );
        for text in [LIVE, new.as_str()] {
            let r = read_all(&Illumos, text.as_bytes());
            assert_eq!(r.len(), 1, "{text}");
            assert_eq!(r[0].title, "assertion failed: !zsd->vz_active in vmm_zsd_destroy");
            assert!(r[0].text.ends_with("100% done: 123456 pages dumped, dump succeeded"), "{}", r[0].text);
        }
    }

    #[test]
    fn masks_messages() {
        assert_eq!(
            mask("assertion failed: a == b (0x5 == 0x6), file: ../../common/fs/zfs/dbuf.c, line: 1234"),
            "assertion failed: a == b"
        );
        assert_eq!(
            mask(
                "BAD TRAP: type=e (#pf Page fault) rp=fffffe000f4a5a10 addr=0 occurred in module \"zfs\" due to a NULL pointer dereference"
            ),
            "BAD TRAP: type=e (#pf Page fault) due to a NULL pointer dereference"
        );
        assert_eq!(
            mask("recursive mutex_enter, lp=fffffe16f0c3a1b8 owner=fffffe000f4a5c20 thread=fffffe000f4a5c20"),
            "recursive mutex_enter"
        );
        assert_eq!(
            mask("deadman: timed out after 50 seconds of clock inactivity"),
            "deadman: timed out after NUM seconds of clock inactivity"
        );
    }

    #[test]
    fn skips_machinery_frames() {
        let f = |function: &str, offset| Frame {
            function: function.into(),
            module: None,
            offset: Some(offset),
            reliable: true,
        };
        assert!(!meaningful(&f("vpanic", 0x10)));
        assert!(!meaningful(&f("assfail3", 0x10)));
        assert!(!meaningful(&f("process_type", 0x16c0d0)));
        assert!(!meaningful(&f("real_mode_stop_cpu_stage2_end", 0x9e23)));
        assert!(meaningful(&f("vmm_zsd_destroy", 0xe8)));
    }

    #[test]
    fn a_long_message_is_cut_before_the_function_is() {
        let long = format!("assertion failed: {}", "very_long_name(with_args) && ".repeat(8));
        let t = fit(&long, Some("vmm_gpt_populate_region"));
        assert!(t.ends_with("... in vmm_gpt_populate_region"), "{t}");
        assert!(t.len() <= MAX_TITLE_LEN, "{t}");
    }

    #[test]
    fn rust_panic_machinery_is_skipped() {
        let f = |function: &str| Frame { function: function.into(), module: None, offset: Some(0x10), reliable: true };
        for machinery in ["rust_begin_unwind", "core::panicking::panic_fmt", "core::option::unwrap_failed"] {
            assert!(!meaningful(&f(machinery)), "{machinery}");
        }
        assert!(meaningful(&f("propolis::vmm::mem::map")));
    }

    #[test]
    fn kmdb_prompt_without_newline_completes() {
        let mut reader = crate::crash::CrashReader::new(&Illumos);
        let ev = reader.feed(b"panic[cpu0]/thread=fffffe000f4a5c20: NMI received\n\nfffffe000f4a5b00 unix:nmiint+1a ()\n\npanic: entering debugger (continue to save dump)\n\n[0]> ");
        assert!(matches!(ev.last(), Some(crate::crash::Event::CrashComplete(r)) if r.title == "NMI received"));
    }
}
