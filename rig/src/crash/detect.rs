//! Guessing which OS wrote a console log, from banners and message shapes.

use super::report::Os;

/// Substrings typical of each OS's console, with a weight.
const MARKERS: &[(Os, &str, u32)] = &[
    (Os::Illumos, "panic[cpu", 5),
    (Os::Illumos, "SunOS Release", 5),
    (Os::Illumos, "illumos", 3),
    (Os::Illumos, "SmartOS", 3),
    (Os::Illumos, "genunix:", 2),
    (Os::Illumos, "unix:", 1),
    (Os::Illumos, "kern.notice]", 2),
    (Os::Illumos, "panicstr =", 5),
    (Os::Illumos, "panicstack =", 5),
    (Os::Illumos, "Loading kmdb", 5),
    (Os::Illumos, "dumping to /dev/", 3),
    (Os::Illumos, "vpanic", 2),
    (Os::Illumos, "BAD TRAP: type=", 4),
    (Os::Illumos, "assertion failed: ", 1),
    (Os::Linux, "Linux version", 5),
    (Os::Linux, "Call Trace:", 3),
    (Os::Linux, "RIP: ", 2),
    (Os::Linux, "Kernel panic - not syncing", 5),
    (Os::Linux, "BUG: ", 2),
    (Os::Linux, "WARNING: CPU", 3),
    (Os::Linux, "Modules linked in", 3),
    (Os::Linux, "systemd", 1),
    (Os::Linux, "kernel BUG at", 4),
];

/// How much of a text is looked at (the start and the end).
const WINDOW: usize = 1 << 20;

/// Guesses the OS from text (illumos banners and frame shapes vs Linux ones); `None` when
/// nothing in it looks like either.
pub fn detect_os(text: &[u8]) -> Option<Os> {
    let head = &text[..text.len().min(WINDOW)];
    let tail = &text[text.len().saturating_sub(WINDOW).max(head.len())..];
    let (mut linux, mut illumos) = (0u64, 0u64);
    for part in [head, tail] {
        let s = String::from_utf8_lossy(part);
        for (os, marker, weight) in MARKERS {
            let n = s.matches(marker).count().min(50) as u64 * u64::from(*weight);
            match os {
                Os::Linux => linux += n,
                Os::Illumos => illumos += n,
            }
        }
    }
    match (linux, illumos) {
        (0, 0) => None,
        (l, i) if i > l => Some(Os::Illumos),
        _ => Some(Os::Linux),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_oses_apart() {
        let illumos =
            b"panic[cpu3]/thread=fffffe17a84c8200: assertion failed: x\nfffffe0021b5cc20 vmm:vmm_zsd_destroy+e8 ()\n";
        assert_eq!(detect_os(illumos), Some(Os::Illumos));
        let linux =
            b"[    0.000000] Linux version 6.1.0\n[   10.1] Kernel panic - not syncing: sysrq triggered crash\n";
        assert_eq!(detect_os(linux), Some(Os::Linux));
        assert_eq!(detect_os(b"hello world\n"), None);
        assert_eq!(detect_os(b""), None);
    }
}
