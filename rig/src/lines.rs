//! Splits a serial byte stream into bounded lines, whatever the chunking. The one splitter
//! under both the console task (`console::lines`) and the crash readers (`crash::lines`);
//! what they want differently (line limit, what a long line becomes, whether `\n\r` is one
//! line end) is a [`Rules`] value each of them owns.

/// What a too-long line becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Long {
    /// Cut at the limit; the rest of the line is dropped and the line is marked truncated.
    Cut,
    /// Wrapped: every `max_line` bytes start a new line, so nothing is lost.
    Wrap,
}

/// Which two-byte sequences end a single line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairs {
    /// Only `\r\n`; in `\n\r` the `\r` ends an empty line (illumos' banner starts that way).
    CrLf,
    /// `\r\n` and `\n\r` alike.
    Either,
}

/// A splitter's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// The longest line kept whole, in bytes; it bounds memory (and regex time) for a runaway guest.
    pub max_line: usize,
    /// What a longer line becomes.
    pub long: Long,
    /// Which line-end pairs count as one.
    pub pairs: Pairs,
}

/// Splits bytes into lines on `\n` and `\r` (see [`Pairs`]). A line is handed out, without its
/// end, as soon as its end arrives; the unterminated tail waits in a buffer of at most
/// `max_line` bytes.
#[derive(Debug)]
pub struct LineSplitter {
    rules: Rules,
    buf: Vec<u8>,
    truncated: bool,
    /// The end that closed the previous line, if nothing came after it yet.
    last_end: Option<u8>,
}

impl LineSplitter {
    /// A splitter with nothing buffered.
    pub fn new(rules: Rules) -> Self {
        LineSplitter { rules, buf: Vec::new(), truncated: false, last_end: None }
    }

    /// Feeds bytes; calls `line(bytes, truncated)` for every complete line.
    pub fn push(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8], bool)) {
        let mut start = 0;
        while let Some(off) = bytes[start..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let end = start + off;
            let term = bytes[end];
            let seg = &bytes[start..end];
            let fresh = self.buf.is_empty() && !self.truncated;
            let pair = fresh && seg.is_empty() && self.pairs_with(term);
            if !pair {
                if fresh && seg.len() <= self.rules.max_line {
                    line(seg, false);
                } else {
                    self.append(seg, &mut line);
                    line(&self.buf, self.truncated);
                }
            }
            self.buf.clear();
            self.truncated = false;
            self.last_end = if pair { None } else { Some(term) };
            start = end + 1;
        }
        if start < bytes.len() {
            self.append(&bytes[start..], &mut line);
            self.last_end = None;
        }
    }

    /// The unterminated tail (e.g. a `[0]> ` debugger prompt that never gets a newline).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Ends the stream: hands out the unterminated tail as a last line, if any.
    pub fn finish(&mut self, mut line: impl FnMut(&[u8], bool)) {
        if !self.buf.is_empty() || self.truncated {
            line(&self.buf, self.truncated);
        }
        self.buf.clear();
        self.truncated = false;
        self.last_end = None;
    }

    /// Whether `term`, right after the previous line's end, completes a two-byte line end.
    fn pairs_with(&self, term: u8) -> bool {
        match (self.rules.pairs, self.last_end) {
            (_, None) => false,
            (Pairs::CrLf, Some(prev)) => prev == b'\r' && term == b'\n',
            (Pairs::Either, Some(prev)) => prev != term,
        }
    }

    /// Adds line bytes to the buffer, cutting or wrapping at the limit.
    fn append(&mut self, mut seg: &[u8], line: &mut impl FnMut(&[u8], bool)) {
        let max = self.rules.max_line;
        match self.rules.long {
            Long::Cut => {
                let room = max.saturating_sub(self.buf.len());
                if seg.len() > room {
                    self.truncated = true;
                }
                self.buf.extend_from_slice(&seg[..seg.len().min(room)]);
            }
            Long::Wrap => {
                // A full buffer is handed out only when a further byte arrives.
                while self.buf.len() + seg.len() > max {
                    let room = max - self.buf.len();
                    if room == 0 {
                        line(&self.buf, false);
                        self.buf.clear();
                    } else {
                        self.buf.extend_from_slice(&seg[..room]);
                        seg = &seg[room..];
                    }
                }
                self.buf.extend_from_slice(seg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(rules: Rules, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(rules);
        let mut out = Vec::new();
        let mut keep = |l: &[u8], t| out.push((String::from_utf8_lossy(l).into_owned(), t));
        for c in chunks {
            s.push(c, &mut keep);
        }
        s.finish(&mut keep);
        out
    }

    const SMALL: Rules = Rules { max_line: 4, long: Long::Wrap, pairs: Pairs::CrLf };

    #[test]
    fn lf_cr_is_one_end_only_when_asked() {
        let crlf = split(SMALL, &[b"a\n\rb"]);
        let either = split(Rules { pairs: Pairs::Either, ..SMALL }, &[b"a\n\rb"]);
        assert_eq!(crlf.len(), 3);
        assert_eq!(either.len(), 2);
    }

    #[test]
    fn wrap_keeps_every_byte_and_cut_drops_the_rest() {
        let wrapped = split(SMALL, &[b"abcdefghi", b"j\n"]);
        assert_eq!(wrapped.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["abcd", "efgh", "ij"]);
        let cut = split(Rules { long: Long::Cut, ..SMALL }, &[b"abcdefghi", b"j\nk"]);
        assert_eq!(cut, [("abcd".to_string(), true), ("k".to_string(), false)]);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_not_wrapped() {
        assert_eq!(split(SMALL, &[b"abcd\n"]), [("abcd".to_string(), false)]);
        assert_eq!(split(SMALL, &[b"ab", b"cd", b"\n"]), [("abcd".to_string(), false)]);
    }
}
