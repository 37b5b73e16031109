//! Guessing which OS wrote a console log, from banners and message shapes.

use super::report::Os;
use super::stream::Dialect;

/// How much of a text is looked at (the start and the end).
const WINDOW: usize = 1 << 20;

/// Guesses which of `dialects` wrote a text, by their [`Dialect::markers`]: the highest
/// score wins, a tie goes to the one listed first; `None` when nothing in it looks like any.
pub fn detect_os(text: &[u8], dialects: &[&'static dyn Dialect]) -> Option<Os> {
    let head = &text[..text.len().min(WINDOW)];
    let tail = &text[text.len().saturating_sub(WINDOW).max(head.len())..];
    let mut scores = vec![0u64; dialects.len()];
    for part in [head, tail] {
        let s = String::from_utf8_lossy(part);
        for (d, score) in dialects.iter().zip(scores.iter_mut()) {
            for (marker, weight) in d.markers() {
                *score += s.matches(marker).count().min(50) as u64 * u64::from(*weight);
            }
        }
    }
    let best = scores.iter().copied().max().filter(|&m| m > 0)?;
    let at = scores.iter().position(|&s| s == best)?;
    Some(dialects[at].os())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::guest_os::{illumos::IllumosDialect, linux::LinuxDialect};

    const BOTH: &[&'static dyn Dialect] = &[&LinuxDialect, &IllumosDialect];

    #[test]
    fn tells_the_oses_apart() {
        let illumos =
            b"panic[cpu3]/thread=fffffe17a84c8200: assertion failed: x\nfffffe0021b5cc20 vmm:vmm_zsd_destroy+e8 ()\n";
        assert_eq!(detect_os(illumos, BOTH), Some(IllumosDialect.os()));
        let linux =
            b"[    0.000000] Linux version 6.1.0\n[   10.1] Kernel panic - not syncing: sysrq triggered crash\n";
        assert_eq!(detect_os(linux, BOTH), Some(LinuxDialect.os()));
        assert_eq!(detect_os(b"hello world\n", BOTH), None);
        assert_eq!(detect_os(b"", BOTH), None);
    }
}
