//! illumos stacks in every form people paste them, and where in the paste the stack is.
//!
//! Forms: the console's `fp mod:func+off ()` (or `fp <hex pc> ()`), mdb's `$C`
//! `fp func+0x..(args)` (also after `! demangle`, with `~` on doubtful frames and arguments
//! wrapped onto the next line), `::stack` without frame pointers (after its prompt only), and
//! fmdump's `panicstack = f () | g () | ...` whose value may go on over lines ending in `|`.
//! Rust symbols are demangled and their hash dropped.

use super::patterns as pat;
use crate::crash::Frame;
use regex::Regex;
use std::sync::LazyLock;

/// At most this many frames are kept.
const MAX_FRAMES: usize = 64;

struct Res {
    console: Regex,
    raw_pc: Regex,
    mdb: Regex,
    bare: Regex,
    prompt: Regex,
    part: Regex,
    hash: Regex,
}

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap_or_else(|e| panic!("bad illumos stack pattern {s:?}: {e}"))
}

static R: LazyLock<Res> = LazyLock::new(|| Res {
    // `fffffe0021b5cca0 genunix:zsd_apply_destroy+165 ()`
    console: re(r"^\s*[0-9a-fA-F]{8,16} ([\w.$-]+):([\w.$]+)\+([0-9a-fA-F]+) \(\)"),
    // `fffffe0021b5cbf0 fffffffffbe156b8 ()`, `fffffb040f3cdf80 0 ()`
    raw_pc: re(r"^\s*[0-9a-fA-F]{8,16} ([0-9a-fA-F]{1,16}) \(\)"),
    // `$C`: `fffffe0021b5cc20 vmm_zsd_destroy+0xe8(5, fffffe17a84c8200)`, `... ~assfail3+0xd0()`
    mdb: re(r"^\s*[0-9a-fA-F]{8,16} (~?)([^\s(+~][^(+]*?)(?:\+(?:0x)?([0-9a-fA-F]+))?\("),
    // `::stack`: `hat_pte_unmap+0x16d(fffffeb21cc90928, 1d6)`, `vpanic()`
    bare: re(r"^(~?)(0x[0-9a-fA-F]+|[A-Za-z_<][^\s(+]*?)(?:\+(?:0x)?([0-9a-fA-F]+))?\("),
    // the mdb command that prints a stack: `> $C`, `> $C ! demangle`, `> ::stack`, `[0]> $c`
    prompt: re(r"(?:^|>)\s*(?:\$[cC]|::stack)\b"),
    // one `panicstack` entry: `genunix:vpanic+15 ()`, `fffffffffbe156b8 ()`
    part: re(r"^\s*(?:(?:([\w.$-]+):)?([\w.$]+)\+([0-9a-fA-F]+)|([0-9a-fA-F]{1,16})) \(\)"),
    // the hash rustc appends to a symbol: `::h0123456789abcdef`
    hash: re(r"::h[0-9a-f]{16}$"),
});

/// The stack of a report and where it was found.
#[derive(Debug, Default)]
pub struct Stack {
    /// The frames, innermost first.
    pub frames: Vec<Frame>,
    /// Nothing but blank lines follows the stack: the paste may have been cut inside it.
    pub at_end: bool,
    /// The frames are in mdb's form with no mdb command before them.
    pub unprompted_mdb: bool,
    /// The stack was printed before the report's first line.
    pub before: bool,
}

/// The first stack in `lines[first..]`, else the last one before `first` (mdb's `$C` typed
/// before `::status`), else fmdump's `panicstack`.
pub fn find(lines: &[String], first: usize) -> Stack {
    let fmdump = lines[first..].iter().find_map(|l| panicstack(l, lines)).or_else(|| {
        let mut s = lines[..first].iter().find_map(|l| panicstack(l, lines))?;
        s.before = true;
        Some(s)
    });
    if let Some(stack) = fmdump {
        return stack;
    }
    let after = runs(&lines[first..]);
    if let Some(mut s) = after.into_iter().next() {
        // A stack that reaches its thread's entry point is whole, wherever the paste ends.
        s.at_end &= !s.frames.last().is_some_and(|f| pat::STACK_BOTTOMS.iter().any(|b| f.function.starts_with(b)));
        return s;
    }
    let mut before = runs(&lines[..first]).pop().unwrap_or_default();
    before.at_end = false;
    before.before = !before.frames.is_empty();
    before
}

/// Every run of consecutive frame lines.
fn runs(lines: &[String]) -> Vec<Stack> {
    let mut out = Vec::new();
    let (mut cur, mut prompted, mut open, mut mdb) = (Vec::new(), false, 0i32, false);
    let mut last_frame_at = 0;
    for (i, line) in lines.iter().enumerate() {
        let parsed = frame(line, prompted || !cur.is_empty());
        if let Some((f, is_mdb)) = parsed {
            if cur.is_empty() {
                mdb = is_mdb;
            }
            open = parens(line);
            last_frame_at = i;
            if cur.len() < MAX_FRAMES {
                cur.push(f);
            }
            continue;
        }
        if !cur.is_empty() {
            // Arguments wrapped onto the next line, and warnings printed inside a stack.
            if open > 0 {
                open += parens(line);
                last_frame_at = i;
                continue;
            }
            if pat::STACK_NOISE.iter().any(|n| line.contains(n)) {
                continue;
            }
            let unprompted = mdb && !prompted;
            out.push(Stack {
                frames: std::mem::take(&mut cur),
                at_end: false,
                unprompted_mdb: unprompted,
                before: false,
            });
        }
        prompted = R.prompt.is_match(line);
    }
    if !cur.is_empty() {
        out.push(Stack { frames: cur, at_end: true, unprompted_mdb: mdb && !prompted, before: false });
    }
    if let Some(s) = out.last_mut()
        && !s.at_end
    {
        s.at_end = lines[last_frame_at + 1..].iter().all(|l| l.trim().is_empty());
    }
    out
}

fn parens(line: &str) -> i32 {
    line.matches('(').count() as i32 - line.matches(')').count() as i32
}

/// One frame line, and whether it is in mdb's form; `bare_ok` allows `::stack`'s form.
fn frame(line: &str, bare_ok: bool) -> Option<(Frame, bool)> {
    if let Some(c) = R.console.captures(line) {
        return Some((make(&c[2], Some(&c[1]), Some(&c[3]), true), false));
    }
    if let Some(c) = R.raw_pc.captures(line) {
        return Some((raw(&c[1]), false));
    }
    let c = R.mdb.captures(line).or_else(|| bare_ok.then(|| R.bare.captures(line)).flatten())?;
    let name = &c[2];
    if let Some(pc) = name.strip_prefix("0x") {
        return Some((raw(pc), true));
    }
    Some((make(name, None, c.get(3).map(|m| m.as_str()), c[1].is_empty()), true))
}

fn raw(pc: &str) -> Frame {
    Frame { function: format!("0x{pc}"), module: None, offset: None, reliable: false }
}

fn make(name: &str, module: Option<&str>, offset: Option<&str>, reliable: bool) -> Frame {
    Frame {
        function: demangle(name),
        module: module.map(str::to_string),
        offset: offset.and_then(|o| u64::from_str_radix(o, 16).ok()),
        reliable,
    }
}

/// Rust symbols as people read them: `_ZN4core9panicking9panic_fmt17h...E` and
/// `core::panicking::panic_fmt::h0123456789abcdef` both become `core::panicking::panic_fmt`.
pub fn demangle(name: &str) -> String {
    let name = name.trim();
    let plain = if name.starts_with("_ZN") || name.starts_with("_R") {
        format!("{:#}", rustc_demangle::demangle(name))
    } else {
        name.to_string()
    };
    R.hash.replace(&plain, "").into_owned()
}

/// fmdump's `panicstack = a () | b () | ...` (or `"panicstack": "..."` in JSON), its value
/// continued over the following lines while a line ends in `|`.
fn panicstack(line: &str, lines: &[String]) -> Option<Stack> {
    let t = line.trim_start();
    let value = t.strip_prefix("panicstack = ").or_else(|| t.strip_prefix("\"panicstack\": \""))?;
    let at = lines.iter().position(|l| std::ptr::eq(l.as_str(), line)).unwrap_or(lines.len());
    let mut all = value.to_string();
    for next in lines.iter().skip(at + 1) {
        if !all.trim_end().trim_end_matches('"').trim_end_matches(',').trim_end().ends_with('|') {
            break;
        }
        all.push(' ');
        all.push_str(next.trim());
    }
    let frames = all.split('|').filter_map(part).take(MAX_FRAMES).collect();
    Some(Stack { frames, at_end: false, unprompted_mdb: false, before: false })
}

fn part(p: &str) -> Option<Frame> {
    let c = R.part.captures(p)?;
    if let Some(pc) = c.get(4) {
        return Some(raw(pc.as_str()));
    }
    Some(make(&c[2], c.get(1).map(|m| m.as_str()), Some(&c[3]), true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_symbols_are_demangled_without_their_hash() {
        assert_eq!(demangle("_ZN4core9panicking9panic_fmt17h0123456789abcdefE"), "core::panicking::panic_fmt");
        assert_eq!(demangle("core::option::unwrap_failed::h0123456789abcdef"), "core::option::unwrap_failed");
        assert_eq!(demangle("vmm_gpt_populate_region"), "vmm_gpt_populate_region");
    }

    #[test]
    fn fmdump_panicstack_goes_on_over_lines_ending_in_a_bar() {
        // Constructed to the layout of `fmdump -Vp` (not a real paste): a value wrapped at `|`.
        let lines: Vec<String> = [
            "        panicstr = assertion failed: x, file: y.c, line: 1",
            "        panicstack = fffffffffbe156b8 () | vmm:vmm_zsd_destroy+e8 () |",
            "        genunix:zsd_apply_destroy+165 () | genunix:zone_destroy+124 () |",
            "        crashtime = 1543509631",
        ]
        .map(String::from)
        .to_vec();
        let s = find(&lines, 0);
        let names: Vec<&str> = s.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["0xfffffffffbe156b8", "vmm_zsd_destroy", "zsd_apply_destroy", "zone_destroy"]);
    }

    #[test]
    fn wrapped_c_arguments_do_not_end_the_stack() {
        let lines: Vec<String> = [
            "> $C",
            "ffffff004049c0f0 strcmp+0x1e(7fffff3ce2f8, fffffffff82c1676)",
            "ffffff004049ce70 lx_mount+0x60b(7fffff3ce264, 7fffff3ce2f8, 7fffff3ce264,",
            "1000006, 7fffff3ce860)",
            "ffffff004049cef0 lx_syscall_enter+0x16f()",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(find(&lines, 0).frames.len(), 3);
    }
}
