//! illumos kernels booted with kmdb stop at the debugger when they panic
//! (`panic: entering debugger (continue to save dump)`, then a `[N]> ` prompt) unless the
//! kernel variable `nopanicdebug` is set. The rig sets it at run time after each fresh boot
//! ([`super::NO_PANIC_DEBUGGER`]); where that fails, it answers `:c` so the kernel goes on
//! to write its dump and reboot. Which of the two happened goes into the panic's evidence.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::console::Console;
use crate::guest::GuestLink;
use crate::target::PanicWatch;

/// What kmdb prints before its prompt when a panic enters the debugger.
pub const ENTERING: &str = "entering debugger";

/// Whether an unfinished console line is kmdb's prompt (`[0]> `).
pub fn is_prompt(partial: &str) -> bool {
    let p = partial.trim_end();
    p.starts_with('[') && p.ends_with("]>") && p[1..p.len() - 2].chars().all(|c| c.is_ascii_digit()) && p.len() > 3
}

/// How a panic gets past kmdb on this boot: the run-time switch, and the `:c` answers given.
#[derive(Debug, Default)]
pub struct PanicDebugger {
    /// What setting `nopanicdebug` at run time did (`None`: the guest has no such switch).
    pub switch: Option<Result<String, String>>,
    /// `:c` answers given at kmdb's prompt.
    pub answered: Arc<AtomicU32>,
    /// The task answering the prompt.
    task: Option<JoinHandle<()>>,
}

impl Drop for PanicDebugger {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

#[async_trait::async_trait]
impl PanicWatch for PanicDebugger {
    async fn ready(&mut self, link: &GuestLink) {
        self.switch = Some(set_switch(link).await);
    }

    /// The evidence line after a panic: which of the two let it dump.
    fn evidence(&self) -> Option<String> {
        let answered = self.answered.load(Ordering::SeqCst);
        let switch = match &self.switch {
            None if answered == 0 => return None,
            None => "no run-time switch".to_string(),
            Some(Ok(s)) => format!("nopanicdebug set at run time ({s})"),
            Some(Err(e)) => format!("nopanicdebug not set at run time ({e})"),
        };
        Some(if answered > 0 {
            format!("kmdb: the panic stopped at kmdb's prompt and the rig answered :c ({answered}x); {switch}")
        } else {
            format!("kmdb: the panic did not stop at kmdb's prompt; {switch}")
        })
    }
}

/// Sets `nopanicdebug` on a freshly booted guest.
async fn set_switch(link: &GuestLink) -> Result<String, String> {
    let cmd = super::NO_PANIC_DEBUGGER;
    match link.run(cmd, Duration::from_secs(30)).await {
        Ok(out) => Ok(format!("`{cmd}`: {}", out.trim())),
        Err(e) => Err(format!("`{cmd}` failed: {e:#}")),
    }
}

impl PanicDebugger {
    /// Starts answering kmdb's prompt on `console` (the switch is set once the guest is ready).
    pub fn watch(console: Console) -> PanicDebugger {
        let answered = Arc::<AtomicU32>::default();
        let task = spawn_continue(console, Arc::clone(&answered));
        PanicDebugger { switch: None, answered, task: Some(task) }
    }
}

/// Watches `console` and answers kmdb's prompt with `:c` after a panic entered the debugger,
/// counting the answers in `answered`.
pub fn spawn_continue(console: Console, answered: Arc<AtomicU32>) -> JoinHandle<()> {
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
                answered.fetch_add(1, Ordering::SeqCst);
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
        let answered = Arc::new(AtomicU32::new(0));
        let task = spawn_continue(con.clone(), answered.clone());
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
        let d = PanicDebugger { switch: Some(Err("`x` failed: unknown symbol".into())), answered, task: None };
        tokio::time::timeout(Duration::from_secs(5), async {
            while d.answered.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        assert_eq!(
            d.evidence().unwrap(),
            "kmdb: the panic stopped at kmdb's prompt and the rig answered :c (1x); nopanicdebug not set at run time \
             (`x` failed: unknown symbol)"
        );
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn evidence_when_the_switch_worked() {
        let d = PanicDebugger {
            switch: Some(Ok("`s`: nopanicdebug: 0 = 0x1".into())),
            answered: Arc::default(),
            task: None,
        };
        assert_eq!(
            d.evidence().unwrap(),
            "kmdb: the panic did not stop at kmdb's prompt; nopanicdebug set at run time (`s`: nopanicdebug: 0 = 0x1)"
        );
        assert_eq!(PanicDebugger::default().evidence(), None);
    }
}
