//! Title masking: replace what changes from build to build (addresses, numbers, lines) by ADDR/NUM/LINE.

use regex::Regex;
use std::sync::LazyLock;

/// The longest title kept; corrupted or interleaved lines can be very long.
pub const MAX_TITLE_LEN: usize = 120;

/// Replacements applied in order, each until the text stops changing (syzkaller's grammar).
static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Executor process names carry a pid.
        (r"syz-executor\.?[0-9]+((/|:)[0-9]+)?", "syz-executor"),
        (r"syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller"),
        // Anything that looks like an address.
        (r"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}", "${1}ADDR"),
        // IPv4 addresses.
        (r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", "IP"),
        // File line numbers.
        (r"(\.\w+)(:[0-9]+)+", "${1}:LINE"),
        // Raw function references `f+0x1052/0x2d80`: offsets are not stable.
        (r"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+", "${1}"),
        // CPU numbers.
        (r"CPU#[0-9]+", "CPU"),
        // Remaining decimal numbers (may overlap, hence the repetition).
        (r"(\W)(\d+)(\W|$)", "${1}NUM${3}"),
        // Very long digit runs inside identifiers are not names.
        (r"\d{7,}", "NUM"),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("title mask regex"), with))
    .collect()
});

/// Masks a raw title: ADDR for addresses, NUM for numbers, LINE for line numbers, then
/// [`sanitize`]s it.
pub fn mask(title: &str) -> String {
    let mut s = title.to_string();
    for (re, with) in MASKS.iter() {
        // Bounded: each pass strictly shortens or rewrites matches; 16 passes is plenty.
        for _ in 0..16 {
            let next = re.replace_all(&s, *with);
            if next == s {
                break;
            }
            s = next.into_owned();
        }
    }
    sanitize(&s)
}

/// Drops control and non-ASCII characters, turns tabs into spaces, squeezes runs of spaces,
/// trims, and cuts the title at [`MAX_TITLE_LEN`] bytes.
pub fn sanitize(title: &str) -> String {
    let mut out = String::with_capacity(title.len().min(MAX_TITLE_LEN));
    let mut prev = ' ';
    for (i, c) in title.char_indices() {
        if i >= MAX_TITLE_LEN {
            break;
        }
        let c = if c == '\t' { ' ' } else { c };
        if !c.is_ascii() || c.is_ascii_control() || (c == ' ' && prev == ' ') {
            continue;
        }
        out.push(c);
        prev = c;
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_addresses_numbers_and_lines() {
        assert_eq!(
            mask("BUG: unable to handle kernel paging request at ffff88002bde1e40"),
            "BUG: unable to handle kernel paging request at ADDR"
        );
        assert_eq!(mask("kernel BUG at fs/ext4/inode.c:2172!"), "kernel BUG at fs/ext4/inode.c:LINE!");
        assert_eq!(mask("failed(-12) to start app 3"), "failed(-NUM) to start app NUM");
        assert_eq!(mask("WARNING in foo+0x1052/0x2d80"), "WARNING in foo");
        assert_eq!(mask("stall on CPU#3"), "stall on CPU");
        assert_eq!(mask("a 0,1,2 b"), "a NUM,NUM,NUM b");
        assert_eq!(mask("from 10.0.2.15 ok"), "from IP ok");
    }

    #[test]
    fn keeps_digits_in_identifiers() {
        assert_eq!(mask("WARNING in cfg80211_rx"), "WARNING in cfg80211_rx");
        assert_eq!(mask("KASAN in nl802154_foo"), "KASAN in nl802154_foo");
        assert_eq!(mask("syz-executor.3/1234 hung"), "syz-executor hung");
    }

    #[test]
    fn sanitizes_and_bounds() {
        assert_eq!(sanitize("  a\t\tb \u{1}c\u{e9}  "), "a b c");
        assert_eq!(sanitize(&"x".repeat(500)).len(), MAX_TITLE_LEN);
    }
}
