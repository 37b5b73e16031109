//! The illumos console reader: panic banners in their console, msgbuf and syslog layouts,
//! fmdump/mdb/savecore forms, `module:function+offset ()` frames, and titles.

use super::illumos_patterns::{self as pat, Form};
use super::report::{CrashKind, CrashReport, Frame, Os};
use super::stream::{Dialect, End};
use super::title::sanitize;
use regex::Regex;
use std::sync::LazyLock;

const MAX_FRAMES: usize = 64;

struct Tables {
    prefilter: regex::bytes::Regex,
    starts: Vec<(Regex, Form)>,
    end_after: Regex,
    end_before: Regex,
    prompt: Regex,
    kinds: Vec<(Regex, CrashKind, bool)>,
    masks: Vec<(Regex, &'static str)>,
    syslog: Regex,
    frame: Regex,
    raw_pc: Regex,
    mdb_frame: Regex,
    stack_part: Regex,
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
    // `fffffe0021b5cca0 genunix:zsd_apply_destroy+165 ()`
    frame: re(r"^\s*[0-9a-fA-F]{8,16} ([\w.$-]+):([\w.$]+)\+([0-9a-fA-F]+) \(\)"),
    // `fffffe0021b5cbf0 fffffffffbe156b8 ()`
    raw_pc: re(r"^\s*[0-9a-fA-F]{8,16} ([0-9a-fA-F]{8,16}) \(\)"),
    // mdb `$C`: `fffffe0021b5cc20 vmm_zsd_destroy+0xe8(5, fffffe17a84c8200)`
    mdb_frame: re(r"^\s*[0-9a-fA-F]{8,16} ([\w.$]+|0x[0-9a-fA-F]+)(?:\+0x([0-9a-fA-F]+))?\("),
    // one entry of fmdump's `panicstack`
    stack_part: re(r"^\s*(?:(?:([\w.$-]+):)?([\w.$]+)\+([0-9a-fA-F]+)|([0-9a-fA-F]{8,16})) \(\)"),
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

impl Dialect for Illumos {
    fn os(&self) -> Os {
        Os::Illumos
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
            let part = part.replace("#015", "").replace("^M", "");
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

    fn build(&self, lines: &[String], ended: bool) -> CrashReport {
        build(lines, ended)
    }
}

fn build(lines: &[String], ended: bool) -> CrashReport {
    let (form, mut message) = start_of(&lines[0]).unwrap_or((Form::Bare, lines[0].trim().to_string()));
    if message.is_empty() {
        // msgbuf/syslog layout: the message is on the next line.
        message = lines[1..].iter().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or_default().to_string();
    }
    let frames = frames(lines);
    let (kind, by_stack) = kind_of(&message);
    let mut title = mask(&message);
    if by_stack && let Some(f) = frames.iter().find(|f| meaningful(f)) {
        title = format!("{title} in {}", f.function);
    }
    let stack_missing = frames.is_empty();
    let corrupted = form == Form::Savecore || stack_missing || (!ended && frames.iter().all(|f| !meaningful(f)));
    CrashReport { os: Os::Illumos, kind, title: sanitize(&title), message, frames, corrupted, text: lines.join("\n") }
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

/// The first contiguous stack of the report (console, msgbuf or `$C` layout), or fmdump's
/// `panicstack`.
fn frames(lines: &[String]) -> Vec<Frame> {
    let mut out = Vec::new();
    for line in lines {
        if let Some(stack) = line.trim_start().strip_prefix("panicstack = ") {
            return stack.split('|').filter_map(stack_part).take(MAX_FRAMES).collect();
        }
        match frame(line) {
            Some(f) => out.push(f),
            None if out.is_empty() || pat::STACK_NOISE.iter().any(|n| line.contains(n)) => {}
            None => break,
        }
        if out.len() >= MAX_FRAMES {
            break;
        }
    }
    out
}

fn frame(line: &str) -> Option<Frame> {
    if let Some(c) = T.frame.captures(line) {
        return Some(Frame {
            function: c[2].to_string(),
            module: Some(c[1].to_string()),
            offset: u64::from_str_radix(&c[3], 16).ok(),
            reliable: true,
        });
    }
    if let Some(c) = T.raw_pc.captures(line) {
        return Some(Frame { function: format!("0x{}", &c[1]), module: None, offset: None, reliable: false });
    }
    let c = T.mdb_frame.captures(line)?;
    let raw = c[1].starts_with("0x");
    Some(Frame {
        function: c[1].to_string(),
        module: None,
        offset: c.get(2).and_then(|m| u64::from_str_radix(m.as_str(), 16).ok()),
        reliable: !raw,
    })
}

fn stack_part(part: &str) -> Option<Frame> {
    let c = T.stack_part.captures(part)?;
    if let Some(pc) = c.get(4) {
        return Some(Frame { function: format!("0x{}", pc.as_str()), module: None, offset: None, reliable: false });
    }
    Some(Frame {
        function: c[2].to_string(),
        module: c.get(1).map(|m| m.as_str().to_string()),
        offset: u64::from_str_radix(&c[3], 16).ok(),
        reliable: true,
    })
}

#[cfg(test)]
mod tests {
    use super::super::stream::read_all;
    use super::*;

    const LIVE: &str = "\n\rpanic[cpu3]/thread=fffffe17a84c8200: assertion failed: !zsd->vz_active, file: ../../i86pc/io/vmm/vmm_zsd.c, line: 162\n\n\
fffffe0021b5cbf0 genunix:process_type+16c0d0 ()\n\
fffffe0021b5cc20 vmm:vmm_zsd_destroy+e8 ()\n\
fffffe0021b5cca0 genunix:zsd_apply_destroy+165 ()\n\
fffffe0021b5cf00 unix:brand_sys_syscall+320 ()\n\n\
dumping to /dev/zvol/dsk/zones/dump, offset 65536, content: kernel\n\
dumping: 0:02 100% done\n100% done: 123456 pages dumped, dump succeeded\nrebooting...\n";

    #[test]
    fn live_console_assertion() {
        let r = read_all(Os::Illumos, LIVE.as_bytes());
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
            let r = read_all(Os::Illumos, text.as_bytes());
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
    fn kmdb_prompt_without_newline_completes() {
        let mut reader = super::super::CrashReader::new(Os::Illumos);
        let ev = reader.feed(b"panic[cpu0]/thread=fffffe000f4a5c20: NMI received\n\nfffffe000f4a5b00 unix:nmiint+1a ()\n\npanic: entering debugger (continue to save dump)\n\n[0]> ");
        assert!(matches!(ev.last(), Some(super::super::Event::CrashComplete(r)) if r.title == "NMI received"));
    }
}
