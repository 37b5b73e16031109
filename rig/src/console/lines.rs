//! The console's view of the serial stream as text lines: the shared [`crate::lines`]
//! splitter with the console's rules (long lines wrapped, `\n\r` two line ends), NULs
//! dropped and invalid UTF-8 replaced. Pure, and tested without a guest.

use crate::lines::{Long, Pairs, Rules};

/// Longest line kept whole; longer ones are cut so a runaway guest cannot exhaust memory.
pub const MAX_LINE: usize = 8 * 1024;

/// The console keeps every byte (a long line goes on in the next) and shows illumos' `\n\r`
/// as the empty line it is on a terminal.
const RULES: Rules = Rules { max_line: MAX_LINE, long: Long::Wrap, pairs: Pairs::CrLf };

/// Accumulates bytes and hands out complete lines as text.
#[derive(Debug)]
pub struct TextLines {
    inner: crate::lines::LineSplitter,
    /// The chunk without its NULs (kept to reuse its allocation).
    bytes: Vec<u8>,
}

impl Default for TextLines {
    fn default() -> Self {
        Self::new()
    }
}

impl TextLines {
    /// A splitter with nothing buffered.
    pub fn new() -> Self {
        TextLines { inner: crate::lines::LineSplitter::new(RULES), bytes: Vec::new() }
    }

    /// Feeds bytes; returns the lines they completed, without their line ends.
    ///
    /// `\n`, `\r\n`, `\n\r` and a lone `\r` all end a line (illumos prints `\n\r`; progress
    /// lines are rewritten with `\r`). NULs are dropped; invalid UTF-8 becomes U+FFFD.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.bytes.clear();
        self.bytes.extend(bytes.iter().copied().filter(|&b| b != 0));
        let mut out = Vec::new();
        self.inner.push(&self.bytes, |line, _| out.push(text(line)));
        out
    }

    /// The text of the unfinished line (e.g. a prompt that waits for input).
    pub fn partial(&self) -> String {
        text(self.inner.pending())
    }

    /// Ends the stream: the unfinished line, if any, becomes a line.
    pub fn finish(&mut self) -> Option<String> {
        let mut last = None;
        self.inner.finish(|line, _| last = Some(text(line)));
        last
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = TextLines::new();
        let mut out: Vec<String> = chunks.iter().flat_map(|c| s.feed(c)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn lf_and_crlf() {
        assert_eq!(split(&[b"a\nb\r\nc"]), ["a", "b", "c"]);
    }

    #[test]
    fn lines_split_across_chunks() {
        assert_eq!(split(&[b"RIG-RE", b"ADY boot", b"_id=1\r", b"\nnext\n"]), ["RIG-READY boot_id=1", "next"]);
    }

    #[test]
    fn lone_cr_ends_a_line_for_progress_rewrites() {
        assert_eq!(
            split(&[b"dumping: 0:01 10% done\rdumping: 0:02 50% done\r100% done\n"]),
            ["dumping: 0:01 10% done", "dumping: 0:02 50% done", "100% done"]
        );
    }

    #[test]
    fn illumos_lf_cr_gives_an_empty_line_before_the_banner() {
        // "\n\r" = LF ends the line, then CR ends an empty line: illumos' banner starts that way.
        assert_eq!(split(&[b"x\n\rpanic[cpu0]/thread=1: boom\n"]), ["x", "", "panic[cpu0]/thread=1: boom"]);
    }

    #[test]
    fn nul_and_invalid_utf8() {
        assert_eq!(split(&[b"a\0b\xffc\n"]), ["ab\u{fffd}c"]);
    }

    #[test]
    fn very_long_lines_are_cut() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let lines = split(&[&long, b"\n"]);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
    }

    #[test]
    fn partial_shows_a_prompt() {
        let mut s = TextLines::new();
        s.feed(b"boot\n[0]> ");
        assert_eq!(s.partial(), "[0]> ");
    }
}
