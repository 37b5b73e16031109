//! Replays a recorded serial console into a socket with realistic timing, so the console task,
//! the crash reader and setup detection can be driven by illumos text without a guest.
//!
//! Script format: each line is sent followed by `\r\n`, in pieces, at the serial line's speed
//! (115200 baud, about 11.5 bytes/ms); `\r` in the text is a bare carriage return (progress
//! rewrites); a line ending in `\c` is sent without a line end (a prompt); `@@ pause <ms>` waits;
//! other `@@` lines are comments.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// Bytes per millisecond at 115200 baud, 8N1.
const BYTES_PER_MS: f64 = 11.52;

/// One write of the replay and the wait before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The wait before writing.
    pub delay: Duration,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Turns a script into writes. `speed` scales every wait (10.0 = ten times faster).
pub fn chunks(script: &str, speed: f64) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut pause = 0.0f64;
    for line in script.lines() {
        if let Some(d) = line.strip_prefix("@@") {
            if let Some(ms) = d.trim().strip_prefix("pause ").and_then(|m| m.trim().parse::<f64>().ok()) {
                pause += ms;
            }
            continue;
        }
        let (text, end) = match line.strip_suffix("\\c") {
            Some(t) => (t, ""),
            None => (line, "\r\n"),
        };
        let bytes = format!("{}{end}", text.replace("\\r", "\r")).into_bytes();
        // Split longer lines so readers see lines cut across reads, as from a real port.
        let cut = if bytes.len() > 24 { bytes.len() / 3 } else { bytes.len() };
        for (i, piece) in [&bytes[..cut], &bytes[cut..]].into_iter().enumerate() {
            if piece.is_empty() {
                continue;
            }
            let wire = piece.len() as f64 / BYTES_PER_MS;
            let ms = if i == 0 { pause + wire } else { wire };
            out.push(Chunk { delay: Duration::from_secs_f64(ms / speed / 1000.0), bytes: piece.to_vec() });
            pause = 0.0;
        }
    }
    out
}

/// Writes the chunks with their waits.
pub async fn play<W: AsyncWriteExt + Unpin>(to: &mut W, chunks: &[Chunk]) -> std::io::Result<()> {
    for c in chunks {
        if !c.delay.is_zero() {
            tokio::time::sleep(c.delay).await;
        }
        to.write_all(&c.bytes).await?;
        to.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_to_chunks() {
        let c = chunks("@@ # comment\nshort\n@@ pause 100\nprompt: \\c\n\\rdumping 0% done a long line here\\c", 1.0);
        let all: Vec<u8> = c.iter().flat_map(|c| c.bytes.clone()).collect();
        assert_eq!(all, b"short\r\nprompt: \rdumping 0% done a long line here");
        assert!(c[1].delay >= Duration::from_millis(100), "{c:?}");
        assert!(c.len() >= 4, "long lines are cut: {c:?}");
    }
}
