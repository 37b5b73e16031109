//! The streaming reader: fed console bytes as they arrive, it reports crashes as they start and end.

use super::lines::{RULES, clean};
use super::report::{CrashKind, CrashReport, Frame, Os};
use crate::lines::LineSplitter;

/// A report holds at most this many lines; a longer one is closed there.
pub const MAX_REPORT_LINES: usize = 1500;
/// A report holds at most this many bytes of text.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;
/// At most this many lines seen before a report's first line are kept for it (a dialect that
/// reads stacks printed before the message, such as mdb's `$C` before `::status`).
pub const MAX_LINES_BEFORE: usize = 64;

/// What the reader noticed in the bytes it was fed.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The first line of a crash just went by; the report is still being read.
    CrashStarted {
        /// The kind, as far as the first line tells.
        kind: CrashKind,
        /// That first line.
        first_line: String,
    },
    /// A crash report is complete.
    CrashComplete(CrashReport),
}

/// How a line inside a report ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The line is the last of the report.
    After,
    /// The line belongs to what follows (e.g. a boot banner); the report ended before it.
    Before,
}

/// One OS's console grammar: what the streaming reader needs to read it, and the OS's own
/// answers about what it read (is it fatal, when has a panic's text ended, which OS wrote a
/// text). A guest OS brings its dialect (`crate::guest_os::GuestOs::dialect`); the shared
/// machinery here (streaming, detection, fingerprints, scoring) only asks it.
pub trait Dialect: Send + Sync {
    /// The OS.
    fn os(&self) -> Os;
    /// Substrings typical of this OS's console, with a weight: what tells which OS wrote a
    /// text ([`super::detect_os`]).
    fn markers(&self) -> &'static [(&'static str, u32)] {
        &[]
    }
    /// The line the kernel prints last in a panic, when it prints one: a guest paused inside
    /// its panic is let run until the console shows it.
    fn end_of_panic(&self) -> Option<&'static str> {
        None
    }
    /// Whether a crash ends the guest's run (a panic), rather than one the kernel survives.
    fn is_fatal(&self, report: &CrashReport) -> bool {
        matches!(report.kind, CrashKind::Panic | CrashKind::Assertion)
    }
    /// Whether a console line is the kernel's report of a stall (a CPU or task that made no
    /// progress: a soft lockup, an RCU stall): a boot that prints one and then makes no
    /// progress is wedged (`crate::console::stall`).
    fn is_stall_report(&self, _line: &str) -> bool {
        false
    }
    /// Whether a console line is one the kernel printed itself (a stall report's backtrace):
    /// not progress of a boot.
    fn is_kernel_line(&self, _line: &str) -> bool {
        false
    }
    /// Whether a fatal report only follows another one (an oops that the kernel then panics
    /// on): the earlier report names the bug.
    fn is_follow_on(&self, _report: &CrashReport) -> bool {
        false
    }
    /// Whether a console line tells of the crash (marked on the report page): by default, a
    /// line that starts one.
    fn marks(&self, line: &str) -> bool {
        self.start(line).is_some()
    }
    /// A frame as the OS prints it (`f+0x1c [vmm]` unless the dialect says otherwise).
    fn frame_text(&self, f: &Frame) -> String {
        let offset = f.offset.map(|o| format!("+0x{o:x}")).unwrap_or_default();
        let module = f.module.as_deref().map(|m| format!(" [{m}]")).unwrap_or_default();
        format!("{}{offset}{module}", f.function)
    }
    /// Cheap test on raw bytes: false means the line cannot start a crash.
    fn may_start(&self, raw: &[u8]) -> bool;
    /// Splits or cleans one console line into the logical lines it holds (syslog `#012`).
    fn normalize(&self, line: String, out: &mut Vec<String>) {
        out.push(line);
    }
    /// Whether this line starts a crash, and of what kind.
    fn start(&self, line: &str) -> Option<CrashKind>;
    /// Whether this line, inside a report, ends it.
    fn end(&self, line: &str) -> Option<End>;
    /// Cheap test on a raw line outside any report: keep it in case a report starting soon
    /// after needs it (at most [`MAX_LINES_BEFORE`] lines, handed to `build` before the first).
    fn keep_before(&self, _raw: &[u8]) -> bool {
        false
    }
    /// Whether the unterminated tail (a debugger prompt) ends the report.
    fn end_on_tail(&self, _tail: &str) -> bool {
        false
    }
    /// Builds the report from its lines; `ended` says an end marker was seen. The lines kept
    /// by `keep_before` come first; `lines[first]` is the line that started the report.
    fn build(&self, lines: &[String], first: usize, ended: bool) -> CrashReport;
}

impl std::fmt::Display for dyn Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.os().name())
    }
}

impl std::fmt::Debug for dyn Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dialect({})", self.os().name())
    }
}

/// The report being read.
struct Pending {
    lines: Vec<String>,
    bytes: usize,
    /// How many of `lines` came before the first line.
    first: usize,
}

/// Streaming crash reader: feed console bytes as they arrive (any chunking; lines may be split,
/// may hold `\r`, `\0` or invalid UTF-8). Memory is bounded by [`MAX_REPORT_BYTES`] plus one line.
pub struct CrashReader {
    dialect: &'static dyn Dialect,
    splitter: LineSplitter,
    pending: Option<Pending>,
    before: std::collections::VecDeque<String>,
    scratch: Vec<String>,
    events: Vec<Event>,
}

impl CrashReader {
    /// A reader of the console in `dialect`.
    pub fn new(dialect: &'static dyn Dialect) -> Self {
        CrashReader {
            dialect,
            splitter: LineSplitter::new(RULES),
            pending: None,
            before: std::collections::VecDeque::new(),
            scratch: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The OS this reader reads.
    pub fn os(&self) -> Os {
        self.dialect.os()
    }

    /// The dialect this reader reads.
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }

    /// Whether a crash has started and its report is not complete yet.
    pub fn in_crash(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds bytes; returns what happened: crashes started, reports completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut splitter = std::mem::replace(&mut self.splitter, LineSplitter::new(RULES));
        splitter.push(bytes, |line, _| self.line(line));
        if self.pending.is_some() && !splitter.pending().is_empty() {
            let tail = clean(splitter.pending());
            if self.dialect.end_on_tail(&tail) {
                self.push_line(tail);
                self.complete(true);
            }
        }
        self.splitter = splitter;
        std::mem::take(&mut self.events)
    }

    /// The console has gone quiet (or the guest stopped): finish any pending report. A report
    /// closed this way is marked corrupted if its stack is missing.
    pub fn flush(&mut self) -> Vec<Event> {
        let mut splitter = std::mem::replace(&mut self.splitter, LineSplitter::new(RULES));
        splitter.finish(|line, _| self.line(line));
        self.splitter = splitter;
        if self.pending.is_some() {
            self.complete(false);
        }
        std::mem::take(&mut self.events)
    }

    fn line(&mut self, raw: &[u8]) {
        // NULs can split a header ("kernel \0BUG"); look again without them.
        if self.pending.is_none()
            && !self.dialect.may_start(raw)
            && !(raw.contains(&0) && self.dialect.may_start(clean(raw).as_bytes()))
        {
            if self.dialect.keep_before(raw) {
                if self.before.len() == MAX_LINES_BEFORE {
                    self.before.pop_front();
                }
                self.before.push_back(clean(raw));
            }
            return;
        }
        let mut logical = std::mem::take(&mut self.scratch);
        self.dialect.normalize(clean(raw), &mut logical);
        for line in logical.drain(..) {
            self.logical(line);
        }
        self.scratch = logical;
    }

    fn logical(&mut self, line: String) {
        if self.pending.is_some() {
            match self.dialect.end(&line) {
                Some(End::After) => {
                    self.push_line(line);
                    self.complete(true);
                }
                Some(End::Before) => {
                    self.complete(true);
                    self.idle(line);
                }
                None => {
                    self.push_line(line);
                    let p = self.pending.as_ref().expect("pending report");
                    if p.lines.len() >= MAX_REPORT_LINES || p.bytes >= MAX_REPORT_BYTES {
                        self.complete(false);
                    }
                }
            }
        } else {
            self.idle(line);
        }
    }

    fn idle(&mut self, line: String) {
        if let Some(kind) = self.dialect.start(&line) {
            self.events.push(Event::CrashStarted { kind, first_line: line.clone() });
            let mut lines: Vec<String> = self.before.drain(..).collect();
            let first = lines.len();
            let bytes = lines.iter().map(|l| l.len() + 1).sum::<usize>() + line.len();
            lines.push(line);
            self.pending = Some(Pending { bytes, lines, first });
        }
    }

    fn push_line(&mut self, line: String) {
        if let Some(p) = self.pending.as_mut() {
            p.bytes += line.len() + 1;
            p.lines.push(line);
        }
    }

    fn complete(&mut self, ended: bool) {
        if let Some(p) = self.pending.take() {
            let report = self.dialect.build(&p.lines, p.first, ended);
            self.events.push(Event::CrashComplete(report));
        }
    }
}

/// Reads a whole text at once (for triage and tests): every crash report in it, in order.
pub fn read_all(dialect: &'static dyn Dialect, text: &[u8]) -> Vec<CrashReport> {
    let mut reader = CrashReader::new(dialect);
    let mut events = reader.feed(text);
    events.extend(reader.flush());
    completed(events)
}

/// The completed reports among `events`, in order.
pub fn completed(events: Vec<Event>) -> Vec<CrashReport> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::CrashComplete(r) => Some(r),
            Event::CrashStarted { .. } => None,
        })
        .collect()
}
