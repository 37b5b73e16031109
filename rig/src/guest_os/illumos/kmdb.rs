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
use crate::guest_os::PanicWatch;

/// What kmdb prints before its prompt when a panic enters the debugger.
pub const ENTERING: &str = "entering debugger";

/// Whether an unfinished console line is kmdb's prompt (`[0]> `).
pub fn is_prompt(partial: &str) -> bool {
    let p = partial.trim_end();
    p.starts_with('[') && p.ends_with("]>") && p[1..p.len() - 2].chars().all(|c| c.is_ascii_digit()) && p.len() > 3
}

/// Whether a complete console line is kmdb's own: its prompt, with what was typed at it.
fn at_prompt(line: &str) -> bool {
    line.trim_start().split_once("]>").is_some_and(|(p, _)| is_prompt(&format!("{p}]>")))
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

/// How often the answerer looks at the console when no text arrives: a prompt that was
/// already there, or that came while the guest was stopped, is still seen.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// How long a prompt must stand unchanged after an answer before it is answered again (the
/// answer can be lost: typed while the guest was stopped, or before kmdb read its input).
const ANSWER_AGAIN_AFTER: Duration = Duration::from_secs(5);

/// Answers per panic at most: a kmdb that ignores `:c` this often will not take it.
pub const MAX_ANSWERS: u32 = 3;

/// What the answerer has seen of the console: whether a panic entered the debugger since the
/// last prompt it left, and its answers to that panic.
#[derive(Debug)]
struct Answerer {
    entered: bool,
    answers: u32,
    last_answer: Option<tokio::time::Instant>,
    /// How long an answered prompt stands before it is answered again.
    again: Duration,
}

impl Answerer {
    /// Feeds the console's new complete lines.
    fn lines<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) {
        for l in lines {
            if l.contains(ENTERING) {
                // A new panic entering the debugger: its own answers.
                self.entered = true;
                self.answers = 0;
                self.last_answer = None;
            } else if self.answers > 0 && !l.trim().is_empty() && !at_prompt(l) && l.trim() != ":c" {
                // kmdb went on after an answer: that panic is dealt with.
                self.entered = false;
            }
        }
    }

    /// Whether to type `:c` now, with the console's unfinished line `partial`.
    fn answer_now(&self, partial: &str, now: tokio::time::Instant) -> bool {
        self.entered
            && is_prompt(partial)
            && self.answers < MAX_ANSWERS
            && self.last_answer.is_none_or(|t| now.duration_since(t) >= self.again)
    }
}

/// Watches `console` and answers kmdb's prompt with `:c` after a panic entered the debugger,
/// counting the answers in `answered`. It looks whenever text arrives and every
/// [`LOOK_EVERY`], so the prompt is answered whenever it stands on the console, and answers
/// again (up to [`MAX_ANSWERS`] times a panic) when a prompt stays unanswered.
pub fn spawn_continue(console: Console, answered: Arc<AtomicU32>) -> JoinHandle<()> {
    answer_prompts(console, answered, ANSWER_AGAIN_AFTER)
}

/// [`spawn_continue`], answering a standing prompt again after `again`.
fn answer_prompts(console: Console, answered: Arc<AtomicU32>, again: Duration) -> JoinHandle<()> {
    let mut chunks = console.subscribe();
    tokio::spawn(async move {
        let mut state = Answerer { entered: false, answers: 0, last_answer: None, again };
        let mut from = 0;
        let mut tick = tokio::time::interval(LOOK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = chunks.recv() => match r {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        // The prompt may arrive a moment after the chunk that completed it.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => {}
            }
            let (lines, next) = console.read_from(from);
            from = next;
            state.lines(lines.iter().map(|l| l.text.as_str()));
            let now = tokio::time::Instant::now();
            if state.answer_now(&console.partial(), now) {
                tracing::warn!(
                    console = console.name(),
                    n = state.answers + 1,
                    "kmdb stopped the panicking kernel: answering :c"
                );
                if console.send(b":c\n").await.is_err() {
                    break;
                }
                state.answers += 1;
                state.last_answer = Some(now);
                answered.fetch_add(1, Ordering::SeqCst);
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

    /// A console pair for the answerer's tests: the rig's side and the guest's.
    fn console(label: &str) -> (Console, UnixStream, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("rig-kmdb-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, theirs) = UnixStream::pair().unwrap();
        (Console::spawn("ttyb", ours, &dir, Instant::now()).unwrap(), theirs, dir)
    }

    const PANIC: &[u8] =
        b"panic[cpu0]/thread=fffffe0021b5cc20: assertion failed: x\r\n\r\npanic: entering debugger (continue to save dump)\r\n\r\n";

    #[tokio::test]
    async fn a_prompt_already_on_screen_is_answered() {
        let (con, mut theirs, dir) = console("before");
        theirs.write_all(PANIC).await.unwrap();
        theirs.write_all(b"[3]> ").await.unwrap();
        // Let the console task take it all in before the answerer starts: no new text comes.
        con.wait_for_prompt(&crate::console::Pattern::literal("[3]>"), 0, Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        let answered = Arc::new(AtomicU32::new(0));
        let task = answer_prompts(con, answered.clone(), Duration::from_secs(60));
        let mut buf = [0u8; 3];
        tokio::time::timeout(Duration::from_secs(5), theirs.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b":c\n");
        assert_eq!(answered.load(Ordering::SeqCst), 1);
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_lost_answer_is_given_again_a_few_times_at_most() {
        let (con, mut theirs, dir) = console("again");
        let answered = Arc::new(AtomicU32::new(0));
        let task = answer_prompts(con, answered.clone(), Duration::from_millis(300));
        // The panic text arrives in pieces split inside the marker; the guest never takes `:c`.
        let (a, b) = PANIC.split_at(PANIC.len() - 30);
        theirs.write_all(a).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        theirs.write_all(b).await.unwrap();
        theirs.write_all(b"[0]> ").await.unwrap();
        let mut buf = vec![0u8; 3 * MAX_ANSWERS as usize];
        tokio::time::timeout(Duration::from_secs(10), theirs.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(buf, b":c\n".repeat(MAX_ANSWERS as usize));
        let mut more = [0u8; 1];
        assert!(tokio::time::timeout(Duration::from_secs(2), theirs.read_exact(&mut more)).await.is_err());
        assert_eq!(answered.load(Ordering::SeqCst), MAX_ANSWERS);
        // A second panic later gets its own answers.
        theirs.write_all(b":c\r\ndumping to /dev/zvol/dsk/zones/dump, offset 65536\r\n").await.unwrap();
        theirs.write_all(PANIC).await.unwrap();
        theirs.write_all(b"[1]> ").await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), theirs.read_exact(&mut buf[..3])).await.unwrap().unwrap();
        assert_eq!(answered.load(Ordering::SeqCst), MAX_ANSWERS + 1);
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The prompt comes while the rig holds the guest stopped for its evidence (QMP `stop`):
    /// nothing more arrives, and the `:c` typed then is lost. After `cont` the prompt still
    /// stands and is answered again; once kmdb takes it and the kernel goes on, no more.
    #[tokio::test]
    async fn a_prompt_that_came_while_the_guest_was_stopped_is_answered_after_it_goes_on() {
        let (con, mut theirs, dir) = console("stopped");
        let answered = Arc::new(AtomicU32::new(0));
        let task = answer_prompts(con, answered.clone(), Duration::from_millis(700));
        // The panic and its prompt in one chunk, then silence: the guest is stopped.
        theirs.write_all(&[PANIC, b"[0]> "].concat()).await.unwrap();
        let mut buf = [0u8; 3];
        tokio::time::timeout(Duration::from_secs(5), theirs.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(answered.load(Ordering::SeqCst), 1, "answered at once, though the stopped guest drops it");
        // `cont`: the prompt still stands, unanswered; the answer comes again, and this time
        // kmdb echoes it and the kernel writes its dump.
        tokio::time::timeout(Duration::from_secs(5), theirs.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b":c\n");
        theirs
            .write_all(b":c\r\ndumping to /dev/zvol/dsk/zones/dump, offset 65536, content: kernel\r\n")
            .await
            .unwrap();
        let mut more = [0u8; 1];
        assert!(tokio::time::timeout(Duration::from_secs(3), theirs.read_exact(&mut more)).await.is_err());
        assert_eq!(answered.load(Ordering::SeqCst), 2);
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kmdb_lines_are_not_progress() {
        assert!(at_prompt("[0]> :c") && at_prompt("[12]>") && !at_prompt("dumping to /dev/zvol"));
        assert!(!at_prompt("[    1.234] kernel text"));
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
