//! The crash readers' line rules for the shared [`crate::lines`] splitter, and the cleaning
//! of a raw line (escapes, `\0`, invalid UTF-8) into text.

use crate::lines::{Long, Pairs, Rules};

/// Lines longer than this are cut; the rest of the line is dropped (keeps memory and regex time bounded).
pub const MAX_LINE: usize = 4096;

/// The crash readers cut a long line (its head holds what a title needs) and read
/// `\r\n` and `\n\r` alike as one line end.
pub(super) const RULES: Rules = Rules { max_line: MAX_LINE, long: Long::Cut, pairs: Pairs::Either };

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
    use crate::lines::LineSplitter;

    fn split(chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut s = LineSplitter::new(RULES);
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
