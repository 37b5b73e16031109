//! Splits a raw serial byte stream into lines. Pure: chunk boundaries, CR/LF variants,
//! NULs and invalid UTF-8 are all handled here and tested without a guest.

/// Longest line kept whole; longer ones are cut so a runaway guest cannot exhaust memory.
pub const MAX_LINE: usize = 8 * 1024;

/// Accumulates bytes and hands out complete lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// The previous byte was a CR, so a following LF belongs to the same line end.
    after_cr: bool,
}

impl LineSplitter {
    /// A splitter with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the lines they completed, without their line ends.
    ///
    /// `\n`, `\r\n`, `\n\r` and a lone `\r` all end a line (illumos prints `\n\r`; progress
    /// lines are rewritten with `\r`). NULs are dropped; invalid UTF-8 becomes U+FFFD.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' | b'\r' => {
                    if self.after_cr && b == b'\n' {
                        self.after_cr = false;
                        continue;
                    }
                    out.push(self.take());
                    self.after_cr = b == b'\r';
                }
                0 => {}
                _ => {
                    self.after_cr = false;
                    if self.partial.len() < MAX_LINE {
                        self.partial.push(b);
                    } else {
                        out.push(self.take());
                        self.partial.push(b);
                    }
                }
            }
        }
        out
    }

    /// The text of the unfinished line (e.g. a prompt that waits for input).
    pub fn partial(&self) -> String {
        String::from_utf8_lossy(&self.partial).into_owned()
    }

    /// Ends the stream: the unfinished line, if any, becomes a line.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new();
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
        let mut s = LineSplitter::new();
        s.feed(b"boot\n[0]> ");
        assert_eq!(s.partial(), "[0]> ");
    }
}
