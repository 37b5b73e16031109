//! Waiting out coal's first boot, which runs setup: the login prompt is printed *before*
//! setup's progress lines and not again (sdc-headnode `scripts/headnode.sh`, `cr_once`), so
//! the first boot is done at `==> Setup complete (in N seconds).`, not at the prompt. A
//! question of setup's on the console (an answers.json key missing or refused) ends the wait
//! at once with the question quoted, instead of hanging until the boot deadline.

use std::time::Duration;

use tokio::time::Instant;

use super::questions;
use super::setup::SetupProgress;
use crate::console::Console;

/// Why setup did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupStop {
    /// Setup asked a question on the console and waits for an answer.
    #[error(
        "coal setup stopped at a console question: '{question}'{}: answers.json has no (valid) answer for it",
        key.map(|k| format!(" (answers key {k})")).unwrap_or_default()
    )]
    Question {
        /// The question as printed.
        question: String,
        /// The answers key it asks for, when the table knows it.
        key: Option<&'static str>,
    },
    /// No `Setup complete` before the deadline.
    #[error("coal setup did not complete within {waited_secs} s (last stage: {last})")]
    Timeout {
        /// How long the rig waited.
        waited_secs: u64,
        /// The progress line at the end.
        last: String,
    },
    /// The console closed (QEMU exited) during setup.
    #[error("the console closed during coal setup (last stage: {last})")]
    Closed {
        /// The progress line at the end.
        last: String,
    },
}

/// The answers key whose question `printed` is (`Enter a company name:` → the company name).
pub fn key_of(printed: &str) -> Option<&'static str> {
    let t = printed.trim();
    questions::QUESTIONS.iter().filter(|q| t.starts_with(q.prompt)).max_by_key(|q| q.prompt.len()).map(|q| q.key)
}

/// Follows `console` from its start until setup completes (returns its own count of seconds),
/// asks a question, the console closes or `deadline` passes. `stage` gets each new progress
/// line.
pub async fn wait_setup(
    console: &Console,
    deadline: Instant,
    stage: &(dyn Fn(String) + Sync),
) -> Result<u64, SetupStop> {
    let began = Instant::now();
    let mut chunks = console.subscribe();
    let mut progress = SetupProgress::default();
    let (mut from, mut shown) = (0u64, String::new());
    loop {
        let lines = console.lines_since(from);
        from += lines.len() as u64;
        for l in &lines {
            progress.feed(&l.text);
        }
        let line = progress.line();
        if line != shown {
            tracing::info!("{line}");
            stage(line.clone());
            shown = line;
        }
        if let Some(secs) = progress.complete {
            return Ok(secs);
        }
        if let Some(question) = questions::on_console(&console.partial()) {
            return Err(SetupStop::Question { key: key_of(&question), question });
        }
        if console.is_closed() {
            return Err(SetupStop::Closed { last: shown });
        }
        if Instant::now() >= deadline {
            return Err(SetupStop::Timeout { waited_secs: began.elapsed().as_secs(), last: shown });
        }
        // Woken by new console bytes; the timeout only bounds a quiet console.
        let _ = tokio::time::timeout_at(deadline.min(Instant::now() + Duration::from_secs(1)), chunks.recv()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    #[test]
    fn questions_name_their_key() {
        assert_eq!(key_of("Enter a company name:"), Some("datacenter_company_name"));
        assert_eq!(key_of("(external) headnode IP address [10.88.88.200]:"), Some("external_ip"));
        assert_eq!(key_of("Confirm password:"), None);
        let e = SetupStop::Question { question: "Enter a company name:".into(), key: Some("datacenter_company_name") };
        assert_eq!(
            e.to_string(),
            "coal setup stopped at a console question: 'Enter a company name:' (answers key \
             datacenter_company_name): answers.json has no (valid) answer for it"
        );
    }

    async fn console(name: &str) -> (Console, UnixStream, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("rig-first-boot-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ours, theirs) = UnixStream::pair().unwrap();
        (Console::spawn("ttyb", ours, &dir, Instant::now()).unwrap(), theirs, dir)
    }

    #[tokio::test]
    async fn the_login_prompt_before_setup_is_not_readiness() {
        let (con, mut theirs, dir) = console("complete").await;
        theirs
            .write_all(b"SunOS Release 5.11 Version joyent_1 64-bit\r\n\r\nheadnode console login: \r\n")
            .await
            .unwrap();
        theirs.write_all(b"creating pool: zones            done\r\nadding volume: dump     done\r\n").await.unwrap();
        let wait = tokio::spawn({
            let con = con.clone();
            async move { wait_setup(&con, Instant::now() + Duration::from_secs(30), &|_| {}).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!wait.is_finished(), "the login prompt and progress lines are not the end of setup");
        theirs
            .write_all(b"\r\n==> Setup complete (in 42 seconds). Press [enter] to get login prompt.\r\n")
            .await
            .unwrap();
        assert_eq!(wait.await.unwrap(), Ok(42));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_question_ends_the_wait_at_once() {
        let (con, mut theirs, dir) = console("question").await;
        theirs.write_all(b"> Datacenter Information\r\nEnter a company name: ").await.unwrap();
        let e = wait_setup(&con, Instant::now() + Duration::from_secs(600), &|_| {}).await.unwrap_err();
        assert_eq!(
            e,
            SetupStop::Question { question: "Enter a company name:".into(), key: Some("datacenter_company_name") }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
