//! The crash reader's throughput on crash-dense text: syzkaller's corpus of Linux console
//! logs, concatenated and repeated (a worst case). The corpus is Linux's, so this file names it.

use std::path::PathBuf;

/// The syzkaller corpus logs concatenated and repeated.
fn corpus_text() -> Option<Vec<u8>> {
    let dir = std::env::var_os("RIG_SYZKALLER_CORPUS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/syzkaller-linux/cases"))
    });
    let cases = rig::crash::corpus::load_dir(&dir).ok()?;
    let mut once: Vec<u8> = Vec::new();
    for c in &cases {
        once.extend_from_slice(&c.text);
        once.push(b'\n');
    }
    (!once.is_empty()).then(|| super::crash::repeated(&once, super::crash::TARGET_BYTES / 4))
}

/// Measures and prints the reader's throughput on the corpus, or says why it cannot.
pub(super) fn run() {
    let Some(dialect) = rig::guest_os::dialect("linux") else {
        outln!("crash reader, syzkaller corpus: no guest OS named linux");
        return;
    };
    match corpus_text() {
        Some(text) => {
            super::crash::line("syzkaller corpus (crash-dense)", dialect, &text);
        }
        None => outln!("crash reader, syzkaller corpus: skipped (corpus not found; set RIG_SYZKALLER_CORPUS)"),
    }
}
