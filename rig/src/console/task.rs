//! The console task: one per serial port. It reads the stream, writes the raw and the
//! timestamped log as bytes arrive (flushed, so a crash of the rig loses nothing), records
//! lines in a journal, and answers "wait for this pattern" under a deadline.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::lines::TextLines;
use super::pattern::Pattern;
use crate::journal::{Cursor, Journal, WaitEnd};

/// Lines kept in memory per console (the log files keep everything).
const KEEP_LINES: usize = 20_000;

/// One console line with the time it completed, relative to the machine's start.
#[derive(Debug, Clone)]
pub struct ConsoleLine {
    /// Time since QEMU started.
    pub t: Duration,
    /// The text, without line end.
    pub text: String,
}

/// A match of a console wait.
#[derive(Debug, Clone)]
pub struct ConsoleMatch {
    /// Where the matching line is; wait from `cursor + 1` for what follows it.
    pub cursor: Cursor,
    /// The matching line.
    pub line: ConsoleLine,
    /// The pattern's capture (see [`Pattern::find`]).
    pub capture: String,
}

/// A console wait that found nothing: what was awaited, for how long, and the last lines.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ConsoleWaitError {
    /// The console's name (`ttyS0`).
    pub console: String,
    /// What was awaited.
    pub pattern: String,
    /// How long the wait lasted.
    pub waited: Duration,
    /// The stream ended (QEMU exited) rather than the deadline passing.
    pub closed: bool,
    /// The last console lines, oldest first.
    pub tail: Vec<String>,
}

impl ConsoleWaitError {
    fn describe(&self) -> String {
        let why = if self.closed { "the console closed (QEMU exited)" } else { "deadline passed" };
        let mut s = format!(
            "no console line matching {} on {} within {:.1}s: {why}; last console lines:",
            self.pattern,
            self.console,
            self.waited.as_secs_f64()
        );
        if self.tail.is_empty() {
            s.push_str("\n    (the console printed nothing)");
        }
        for l in &self.tail {
            s.push_str("\n    ");
            s.push_str(l);
        }
        s
    }
}

/// A running console: cloneable handle to the task's journal and the write side.
#[derive(Clone)]
pub struct Console {
    name: String,
    lines: Journal<ConsoleLine>,
    partial: Arc<Mutex<String>>,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    chunks: broadcast::Sender<Arc<[u8]>>,
    task: Arc<JoinHandle<()>>,
    start: Instant,
    log_error: Arc<Mutex<Option<String>>>,
}

impl Console {
    /// Starts the task on `stream`, logging to `<dir>/<name>.log` (raw bytes) and
    /// `<dir>/<name>.timed.log` (lines with seconds since `start`).
    pub fn spawn(name: &str, stream: UnixStream, dir: &Path, start: Instant) -> std::io::Result<Console> {
        let (raw_path, timed_path) = (dir.join(format!("{name}.log")), dir.join(format!("{name}.timed.log")));
        let mut raw = File::create(&raw_path)?;
        let mut timed = File::create(&timed_path)?;
        let log_error: Arc<Mutex<Option<String>>> = Arc::default();
        let failed = log_error.clone();
        // The first write error is kept: the log is evidence, and losing it must be said.
        let fail = move |path: &Path, e: std::io::Error| {
            failed.lock().unwrap().get_or_insert_with(|| format!("writing {}: {e}", path.display()));
        };
        let (mut rd, wr) = stream.into_split();
        let lines = Journal::new(KEEP_LINES);
        let partial = Arc::new(Mutex::new(String::new()));
        let (chunks, _) = broadcast::channel(1024);
        let (j, p, c) = (lines.clone(), partial.clone(), chunks.clone());
        let task = tokio::spawn(async move {
            let mut split = TextLines::new();
            let mut buf = vec![0u8; 16 * 1024];
            let mut record = |text: String| {
                let t = start.elapsed();
                if let Err(e) = writeln!(timed, "[{:>10.3}] {text}", t.as_secs_f64()) {
                    fail(&timed_path, e);
                }
                j.push(ConsoleLine { t, text });
            };
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                if let Err(e) = raw.write_all(chunk) {
                    fail(&raw_path, e);
                }
                let _ = c.send(Arc::from(chunk));
                for line in split.feed(chunk) {
                    record(line);
                }
                *p.lock().unwrap() = split.partial();
                j.poke();
            }
            if let Some(line) = split.finish() {
                record(line);
            }
            j.close();
        });
        Ok(Console {
            name: name.to_string(),
            lines,
            partial,
            writer: Arc::new(tokio::sync::Mutex::new(wr)),
            chunks,
            task: Arc::new(task),
            start,
            log_error,
        })
    }

    /// The first error writing this console's log files, if any: evidence was lost.
    pub fn log_error(&self) -> Option<String> {
        self.log_error.lock().unwrap().clone()
    }

    /// The console's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position after the newest line: wait from here for lines yet to come.
    pub fn cursor(&self) -> Cursor {
        self.lines.cursor()
    }

    /// Waits for a line at or after `from` matching `pattern`, until `deadline`.
    pub async fn wait_for(
        &self,
        pattern: &Pattern,
        from: Cursor,
        deadline: Instant,
    ) -> Result<ConsoleMatch, ConsoleWaitError> {
        let began = Instant::now();
        let r = self.lines.wait_for(from, deadline, |l| pattern.find(&l.text).map(|c| (l.clone(), c))).await;
        match r {
            Ok((cursor, (line, capture))) => Ok(ConsoleMatch { cursor, line, capture }),
            Err(end) => Err(self.wait_error(pattern, began, end == WaitEnd::Closed)),
        }
    }

    /// What a wait that found nothing reports: the pattern, how long, and the last lines.
    fn wait_error(&self, pattern: &Pattern, began: Instant, closed: bool) -> ConsoleWaitError {
        ConsoleWaitError {
            console: self.name.clone(),
            pattern: pattern.to_string(),
            waited: began.elapsed(),
            closed,
            tail: self.tail(20),
        }
    }

    /// Like [`Console::wait_for`], but the unfinished last line counts too: for prompts that
    /// wait for input without ending their line (`headnode console login: `, `[0]> `). Use it
    /// only for patterns that cannot match a prefix of a line still arriving.
    pub async fn wait_for_prompt(
        &self,
        pattern: &Pattern,
        from: Cursor,
        deadline: Instant,
    ) -> Result<ConsoleMatch, ConsoleWaitError> {
        let began = Instant::now();
        let notify = self.lines.notifier();
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some((cursor, (line, capture))) =
                self.lines.find(from, |l| pattern.find(&l.text).map(|c| (l.clone(), c)))
            {
                return Ok(ConsoleMatch { cursor, line, capture });
            }
            let partial = self.partial();
            if let Some(capture) = pattern.find(&partial) {
                let line = ConsoleLine { t: self.start.elapsed(), text: partial };
                return Ok(ConsoleMatch { cursor: self.cursor(), line, capture });
            }
            let closed = self.is_closed();
            if closed || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(self.wait_error(pattern, began, closed));
            }
        }
    }

    /// The last `n` lines (the unfinished one included), for error messages and reports.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let mut t: Vec<String> = self.lines.tail(n).into_iter().map(|l| l.text).collect();
        let partial = self.partial.lock().unwrap().clone();
        if !partial.is_empty() {
            t.push(partial);
            if t.len() > n {
                t.remove(0);
            }
        }
        t
    }

    /// Lines from `from` on that are still in memory.
    pub fn lines_since(&self, from: Cursor) -> Vec<ConsoleLine> {
        self.lines.since(from)
    }

    /// Lines from `from` on that are still in memory, and the cursor to read on from.
    pub fn read_from(&self, from: Cursor) -> (Vec<ConsoleLine>, Cursor) {
        self.lines.read_from(from)
    }

    /// The unfinished last line (a prompt waiting for input).
    pub fn partial(&self) -> String {
        self.partial.lock().unwrap().clone()
    }

    /// Raw chunks as they arrive, for streaming readers (the crash reader).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[u8]>> {
        self.chunks.subscribe()
    }

    /// Whether the stream has ended (QEMU exited).
    pub fn is_closed(&self) -> bool {
        self.lines.is_closed()
    }

    /// Types into the console (e.g. `:c\n` at a kmdb prompt).
    pub async fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut w = self.writer.lock().await;
        w.write_all(bytes).await?;
        w.flush().await
    }

    /// Waits (bounded) for the task to drain after QEMU exited, so the logs are complete.
    pub async fn drain(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.task.is_finished() && Instant::now() < deadline {
            let _ = self
                .lines
                .wait_for(self.cursor(), deadline.min(Instant::now() + Duration::from_millis(50)), |_| None::<()>)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_log_that_cannot_be_written_is_reported() {
        let dir = std::env::temp_dir().join(format!("rig-console-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("ttyS0.log");
        let _ = std::fs::remove_file(&log);
        std::os::unix::fs::symlink("/dev/full", &log).unwrap();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let con = Console::spawn("ttyS0", ours, &dir, Instant::now()).unwrap();
        let from = con.cursor();
        theirs.write_all(b"a line\n").await.unwrap();
        con.wait_for(&Pattern::literal("a line"), from, Instant::now() + Duration::from_secs(5)).await.unwrap();
        let e = con.log_error().expect("the write error is kept");
        assert!(e.contains("ttyS0.log: No space left on device"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn logs_lines_and_answers_waits() {
        let dir = std::env::temp_dir().join(format!("rig-console-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let con = Console::spawn("ttyS0", ours, &dir, Instant::now()).unwrap();
        let from = con.cursor();
        theirs.write_all(b"Linux version 6.1\r\nRIG-READY boot_id=abc-1\r\n[0]> ").await.unwrap();
        let p = Pattern::regex(r"RIG-READY boot_id=(\S+)").unwrap();
        let m = con.wait_for(&p, from, Instant::now() + Duration::from_secs(5)).await.unwrap();
        assert_eq!(m.capture, "abc-1");
        assert_eq!(m.cursor, 1);

        // A wait that cannot match reports the tail, including the unfinished prompt.
        let e = con
            .wait_for(&Pattern::literal("never"), m.cursor + 1, Instant::now() + Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(!e.closed);
        assert!(e.to_string().contains("RIG-READY boot_id=abc-1"), "{e}");
        assert!(e.tail.last().unwrap().starts_with("[0]>"));

        // The prompt has no line end: only a prompt wait sees it.
        let prompt = Pattern::regex(r"^\[(\d+)\]> $").unwrap();
        let m = con.wait_for_prompt(&prompt, 0, Instant::now() + Duration::from_secs(5)).await.unwrap();
        assert_eq!(m.capture, "0");
        assert!(con.wait_for(&prompt, 0, Instant::now() + Duration::from_millis(50)).await.is_err());

        con.send(b":c\n").await.unwrap();
        let mut typed = [0u8; 3];
        theirs.read_exact(&mut typed).await.unwrap();
        assert_eq!(&typed, b":c\n");

        drop(theirs);
        let e = con.wait_for(&Pattern::literal("never"), 0, Instant::now() + Duration::from_secs(5)).await.unwrap_err();
        assert!(e.closed, "{e}");
        con.drain(Duration::from_secs(1)).await;
        let raw = std::fs::read_to_string(dir.join("ttyS0.log")).unwrap();
        assert!(raw.starts_with("Linux version 6.1\r\n"));
        let timed = std::fs::read_to_string(dir.join("ttyS0.timed.log")).unwrap();
        assert!(timed.lines().any(|l| l.ends_with("] RIG-READY boot_id=abc-1")), "{timed}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
