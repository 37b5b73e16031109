//! A customer's panic text, read as `triage` reads it: its first crash, the frames that
//! identify it, and how sure the reading is.

use crate::crash::{Certainty, CrashReport, Os};

/// How many frames, from the guilty function outward, identify a crash.
pub const IDENTIFYING_FRAMES: usize = 5;

/// Why a text gives nothing to reproduce (bad input: the caller exits 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The text is empty (or only white space).
    #[error("the text is empty: give the console capture, mdb output or journal that holds the panic")]
    Empty,
    /// No reader found a crash in it.
    #[error("no panic found in {lines} lines read as {how}: give the text that holds the panic message and its stack")]
    NoPanic {
        /// Lines read.
        lines: usize,
        /// The OS it was read as, or which were tried.
        how: String,
    },
    /// The OS asked for is unknown.
    #[error("{0}")]
    UnknownOs(String),
    /// The text could not be read.
    #[error("cannot read the text: {0}")]
    Io(String),
}

/// How far a reading can be trusted, from the reader's certainty and corruption marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sureness {
    /// A whole stack, the guilty function its first meaningful frame, nothing mangled.
    Sure,
    /// A stack cut off or found apart from the message: the frames may be partial.
    Likely,
    /// No usable frame, or the report is mangled: only the message is solid.
    Weak,
}

impl Sureness {
    /// A sentence for people.
    pub fn explain(self) -> &'static str {
        match self {
            Sureness::Sure => "a whole stack: title and frames are as the kernel printed them",
            Sureness::Likely => "the stack is cut off or stands apart from the message: frames may be missing",
            Sureness::Weak => "no usable stack, or a mangled report: only the message can be trusted",
        }
    }
}

/// The crash to reproduce, as read from the customer's text.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The first crash of the text (what the customer hit; later ones may be its echoes).
    pub report: CrashReport,
    /// The function the title names (`vmm_zsd_destroy`), if any.
    pub function: Option<String>,
    /// Up to [`IDENTIFYING_FRAMES`] reliable frames from the guilty function outward, as
    /// `module:function` or `function`.
    pub frames: Vec<String>,
    /// How sure the reading is.
    pub sureness: Sureness,
    /// Other crashes in the text, after the first.
    pub others: usize,
}

impl Reading {
    /// The OS whose dialect read it.
    pub fn os(&self) -> Os {
        self.report.os
    }

    /// Whether `name` (`f` or `module:f`) is among the identifying frames.
    pub fn identifies(&self, name: &str) -> bool {
        self.frames.iter().any(|f| f == name || f.rsplit(':').next() == Some(name))
    }

    /// Whether `name` is on the stack at all (any frame, reliable or not).
    pub fn on_stack(&self, name: &str) -> bool {
        self.report.frames.iter().any(|f| f.function == name || f.qualified() == name)
    }

    /// The module of the guilty function's frame (`vmm`), when the stack names one.
    pub fn module(&self) -> Option<&str> {
        let f = self.function.as_deref()?;
        self.report.frames.iter().find(|fr| fr.function == f)?.module.as_deref()
    }
}

/// Reads `text` with `triage`'s streaming reader (`os`: a guest OS's name, or `None` to let the
/// reader decide), so every form `triage` reads is read here too.
pub fn read(text: &[u8], os: Option<&str>) -> Result<Reading, ReadError> {
    read_from(&mut &text[..], os)
}

/// [`read`] from a stream (a file, standard input), in bounded memory whatever its size: the
/// first crash is kept (the customer's), later ones only counted.
pub fn read_from(input: &mut dyn std::io::Read, os: Option<&str>) -> Result<Reading, ReadError> {
    let mut reader = crate::guest_os::triage_reader(os).map_err(|e| ReadError::UnknownOs(format!("{e:#}")))?;
    let tried = reader.candidates();
    let (mut first, mut others, mut lines, mut blank) = (None, 0, 1usize, true);
    let mut keep = |got: Vec<CrashReport>| {
        for r in got {
            if first.is_none() { first = Some(r) } else { others += 1 }
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e.to_string())),
        };
        let chunk = &buf[..n];
        blank &= chunk.iter().all(u8::is_ascii_whitespace);
        lines += chunk.iter().filter(|&&b| b == b'\n').count();
        keep(reader.feed(chunk));
    }
    if blank {
        return Err(ReadError::Empty);
    }
    keep(reader.finish());
    let Some(report) = first else {
        let how = reader.os().map_or_else(
            || format!("any of {}", tried.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")),
            |o| o.to_string(),
        );
        return Err(ReadError::NoPanic { lines, how });
    };
    Ok(reading_of(report, others))
}

/// The reading of one report.
pub fn reading_of(report: CrashReport, others: usize) -> Reading {
    let function = guilty_function(&report);
    let reliable: Vec<&crate::crash::Frame> = report.frames.iter().filter(|f| f.reliable).collect();
    let start = function.as_deref().and_then(|g| reliable.iter().position(|f| f.function == g)).unwrap_or(0);
    let frames = reliable.iter().skip(start).take(IDENTIFYING_FRAMES).map(|f| f.qualified()).collect();
    let sureness = match report.certainty {
        _ if report.corrupted => Sureness::Weak,
        Certainty::Frame => Sureness::Sure,
        Certainty::Truncated | Certainty::Guessed => Sureness::Likely,
        Certainty::NoFrame => Sureness::Weak,
    };
    Reading { report, function, frames, sureness, others }
}

/// The function a title names after its last ` in ` (`kernel BUG in f` → `f`), unless the
/// title names none (syzkaller's `in corrupted`, or a certainty of `no_frame`).
pub fn title_function(title: &str) -> Option<&str> {
    let (_, f) = title.rsplit_once(" in ")?;
    (!f.is_empty() && f != "corrupted" && !f.contains(' ')).then_some(f)
}

fn guilty_function(r: &CrashReport) -> Option<String> {
    if r.certainty == Certainty::NoFrame {
        return None;
    }
    title_function(&r.title).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_names_its_function_after_the_last_in() {
        assert_eq!(title_function("kernel BUG in vmm_zsd_destroy"), Some("vmm_zsd_destroy"));
        assert_eq!(title_function("assertion failed: a in b in zone_destroy"), Some("zone_destroy"));
        assert_eq!(title_function("general protection fault in corrupted"), None);
        assert_eq!(title_function("BAD TRAP: type=e"), None);
    }

    #[test]
    fn sureness_follows_certainty_and_corruption() {
        let text = b"[   42.1] kernel BUG at mm/x.c:1!\n[   42.2] invalid opcode: 0000 [#1] SMP\n[   42.3] RIP: 0010:f+0x1/0x2\n[   42.4] Kernel panic - not syncing: Fatal exception\n";
        let r = read(text, None).unwrap();
        let mut report = r.report.clone();
        for (certainty, corrupted, want) in [
            (Certainty::Frame, false, Sureness::Sure),
            (Certainty::Truncated, false, Sureness::Likely),
            (Certainty::Guessed, false, Sureness::Likely),
            (Certainty::NoFrame, false, Sureness::Weak),
            (Certainty::Frame, true, Sureness::Weak),
        ] {
            report.certainty = certainty;
            report.corrupted = corrupted;
            assert_eq!(reading_of(report.clone(), 0).sureness, want, "{certainty} corrupted={corrupted}");
        }
    }
}
