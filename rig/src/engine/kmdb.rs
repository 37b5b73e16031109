//! illumos kernels booted with kmdb stop at the debugger when they panic
//! (`panic: entering debugger (continue to save dump)`, then a `[N]> ` prompt). Unattended, the
//! rig answers `:c` so the kernel goes on to write its dump and reboot.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::console::Console;

/// What kmdb prints before its prompt when a panic enters the debugger.
pub const ENTERING: &str = "entering debugger";

/// Whether an unfinished console line is kmdb's prompt (`[0]> `).
pub fn is_prompt(partial: &str) -> bool {
    let p = partial.trim_end();
    p.starts_with('[') && p.ends_with("]>") && p[1..p.len() - 2].chars().all(|c| c.is_ascii_digit()) && p.len() > 3
}

/// Watches `console` and answers kmdb's prompt with `:c` after a panic entered the debugger.
pub fn spawn_continue(console: Console) -> JoinHandle<()> {
    let mut chunks = console.subscribe();
    tokio::spawn(async move {
        let mut entered = false;
        loop {
            match chunks.recv().await {
                Ok(bytes) => {
                    if String::from_utf8_lossy(&bytes).contains(ENTERING) {
                        entered = true;
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
            // The prompt may arrive a moment after the chunk that completed it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if entered && is_prompt(&console.partial()) {
                tracing::warn!(console = console.name(), "kmdb stopped the panicking kernel: answering :c");
                if console.send(b":c\n").await.is_err() {
                    break;
                }
                entered = false;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;
    use tokio::time::Instant;

    #[test]
    fn prompts() {
        assert!(is_prompt("[0]> "));
        assert!(is_prompt("[12]>"));
        assert!(!is_prompt("[]> "));
        assert!(!is_prompt("[0]> ::status"));
        assert!(!is_prompt("headnode console login: "));
    }

    #[tokio::test]
    async fn a_panic_in_kmdb_is_continued() {
        let dir = std::env::temp_dir().join(format!("rig-kmdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let con = Console::spawn("ttyb", ours, &dir, Instant::now()).unwrap();
        let task = spawn_continue(con.clone());
        // A prompt without a panic before it is left alone.
        theirs.write_all(b"[0]> ").await.unwrap();
        let mut buf = [0u8; 3];
        assert!(tokio::time::timeout(Duration::from_millis(300), theirs.read_exact(&mut buf)).await.is_err());
        theirs
            .write_all(b"\r\npanic[cpu0]/thread=fffffe0021b5cc20: assertion failed: x\r\n\r\npanic: entering debugger (continue to save dump)\r\n\r\n[0]> ")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), theirs.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b":c\n");
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
