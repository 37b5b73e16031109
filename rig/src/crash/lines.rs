//! Splits a console byte stream into bounded lines, whatever the chunking, `\r` or `\0`.

/// Lines longer than this are cut; the rest of the line is dropped (keeps memory and regex time bounded).
pub const MAX_LINE: usize = 4096;

/// Splits bytes into lines on `\n` and `\r`; a `\r\n` or `\n\r` pair counts as one break.
/// A line is handed out as soon as its terminator arrives; the unterminated tail waits in a
/// buffer of at most [`MAX_LINE`] bytes.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    truncated: bool,
    /// The terminator that ended the previous line, if nothing came after it yet.
    last_term: Option<u8>,
}

impl LineSplitter {
    /// Feeds bytes; calls `line(bytes, truncated)` for every complete line.
    pub fn push(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8], bool)) {
        let mut start = 0;
        while let Some(off) = bytes[start..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let end = start + off;
            let term = bytes[end];
            let seg = &bytes[start..end];
            let empty = seg.is_empty() && self.buf.is_empty() && !self.truncated;
            let pair = empty && matches!(self.last_term, Some(t) if t != term);
            if !pair {
                if self.buf.is_empty() && !self.truncated {
                    let cut = seg.len() > MAX_LINE;
                    line(&seg[..seg.len().min(MAX_LINE)], cut);
                } else {
                    self.append(seg);
                    line(&self.buf, self.truncated);
                }
            }
            self.buf.clear();
            self.truncated = false;
            self.last_term = if pair { None } else { Some(term) };
            start = end + 1;
        }
        if start < bytes.len() {
            self.append(&bytes[start..]);
            self.last_term = None;
        }
    }

    /// The unterminated tail (e.g. a `[0]> ` debugger prompt that never gets a newline).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Hands out the unterminated tail as a last line, if any.
    pub fn finish(&mut self, mut line: impl FnMut(&[u8], bool)) {
        if !self.buf.is_empty() || self.truncated {
            line(&self.buf, self.truncated);
        }
        self.buf.clear();
        self.truncated = false;
        self.last_term = None;
    }

    fn append(&mut self, seg: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.buf.len());
        if seg.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&seg[..seg.len().min(room)]);
    }
}

/// Turns raw line bytes into clean text: terminal escape sequences removed (the colours of
/// `dmesg --color=always` or a captured terminal: CSI, OSC and the like), invalid UTF-8
/// replaced, control characters (other than tab) dropped.
pub fn clean(bytes: &[u8]) -> String {
    if bytes.contains(&0x1b) {
        return printable(&strip_ansi_escapes::strip(bytes));
    }
    printable(bytes)
}

fn printable(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.bytes().all(|b| b >= 0x20 || b == b'\t') {
        return s.into_owned();
    }
    s.chars().filter(|&c| c == '\t' || !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, |l, t| out.push((clean(l), t)));
        }
        s.finish(|l, t| out.push((clean(l), t)));
        out
    }

    #[test]
    fn handles_crlf_and_lfcr_and_chunking() {
        let want: Vec<(String, bool)> = ["a", "b", "", "c", "d"].iter().map(|s| (s.to_string(), false)).collect();
        assert_eq!(split(&[b"a\r\nb\n\nc\n\rd"]), want);
        assert_eq!(split(&[b"a\r", b"\nb\n", b"\nc", b"\n", b"\rd"]), want);
    }

    #[test]
    fn bare_cr_breaks_lines() {
        let got = split(&[b"dumping: 0:01 10% done\rdumping: 0:02 100% done\n"]);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn bounds_long_lines_and_cleans_bytes() {
        let long = vec![b'x'; MAX_LINE * 3];
        let got = split(&[&long[..5000], &long[5000..], b"\nok\0\xff\n"]);
        assert_eq!(got[0].0.len(), MAX_LINE);
        assert!(got[0].1);
        assert_eq!(got[1], ("ok\u{fffd}".to_string(), false));
    }
}
