//! Waiting out coal's first boot, which runs setup: the login prompt is printed *before*
//! setup's progress lines and not again (sdc-headnode `scripts/headnode.sh`, `cr_once`), so
//! the first boot is done at `==> Setup complete (in N seconds).`, not at the prompt. A
//! question of setup's on the console (an answers.json key missing or refused) ends the wait
//! at once with the question quoted, instead of hanging until the boot deadline; so does
//! headnode.sh's fatal line or a zone's setup timeout ([`super::setup_fail`]), and any other
//! prompt that stays unanswered for [`PROMPT_QUIET`].

use std::time::Duration;

use tokio::time::Instant;

use super::questions;
use super::setup::SetupProgress;
use super::setup_fail::{FailWatch, prompt_waiting};
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
    /// headnode.sh said setup failed (its fatal line, or a zone's setup timeout or failure).
    #[error("coal setup failed during {stage} ({what}); the console said:\n  {}", lines.join("\n  "))]
    Failed {
        /// What failed (`zone imgapi: timeout`, `headnode.sh`).
        what: String,
        /// The progress line when it failed.
        stage: String,
        /// The console lines quoted.
        lines: Vec<String>,
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

/// How long a prompt the question table does not know may stay unanswered before the wait
/// ends (a known question ends it at once).
pub const PROMPT_QUIET: Duration = Duration::from_secs(30);
/// How long a zone's `timeout`/`failed` line may wait for its fatal line.
const ZONE_GRACE: Duration = Duration::from_secs(15);

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
    wait_setup_quiet(console, deadline, stage, PROMPT_QUIET).await
}

/// [`wait_setup`] with an unknown prompt's quiet time given.
async fn wait_setup_quiet(
    console: &Console,
    deadline: Instant,
    stage: &(dyn Fn(String) + Sync),
    quiet: Duration,
) -> Result<u64, SetupStop> {
    let began = Instant::now();
    let mut chunks = console.subscribe();
    let mut progress = SetupProgress::default();
    let mut fails = FailWatch::default();
    let (mut from, mut shown) = (0u64, String::new());
    let (mut zone_failed_at, mut prompt): (Option<Instant>, Option<(String, Instant)>) = (None, None);
    loop {
        let lines = console.lines_since(from);
        from += lines.len() as u64;
        for l in &lines {
            progress.feed(&l.text);
            if let Some(f) = fails.feed(&l.text) {
                return Err(SetupStop::Failed { what: f.what, stage: progress.line(), lines: f.lines });
            }
        }
        if fails.zone_failed().is_some() {
            let at = *zone_failed_at.get_or_insert_with(Instant::now);
            if at.elapsed() >= ZONE_GRACE {
                let f = fails.zone_failed().expect("seen");
                return Err(SetupStop::Failed { what: f.what, stage: progress.line(), lines: f.lines });
            }
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
        let partial = console.partial();
        if let Some(question) = questions::on_console(&partial) {
            return Err(SetupStop::Question { key: key_of(&question), question });
        }
        match (prompt_waiting(&partial), &prompt) {
            (Some(p), Some((q, since))) if *q == p && since.elapsed() >= quiet => {
                return Err(SetupStop::Question { key: key_of(&p), question: p });
            }
            (Some(p), Some((q, _))) if *q == p => {}
            (Some(p), _) => prompt = Some((p, Instant::now())),
            (None, _) => prompt = None,
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
    async fn a_fatal_line_ends_the_wait_at_once_quoting_it() {
        let (con, mut theirs, dir) = console("fatal").await;
        theirs.write_all(b"preparing for setup...          done (2s)\r\n").await.unwrap();
        theirs.write_all(b"creating zone imgapi...         timeout\r\n").await.unwrap();
        theirs
            .write_all(
                b"headnode configuration: fatal error: Failed to create imgapi: setup timed out after 181 seconds.\r\n",
            )
            .await
            .unwrap();
        let began = Instant::now();
        let e = wait_setup(&con, Instant::now() + Duration::from_secs(600), &|_| {}).await.unwrap_err();
        assert!(began.elapsed() < Duration::from_secs(5));
        let SetupStop::Failed { what, stage, lines } = &e else { panic!("{e:?}") };
        assert_eq!(what, "zone imgapi: timeout");
        assert!(stage.contains("imgapi"), "{stage}");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(e.to_string().contains("setup timed out after 181 seconds"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_unknown_prompt_ends_the_wait_after_its_quiet_time() {
        let (con, mut theirs, dir) = console("unknown-prompt").await;
        theirs.write_all(b"> Packages\r\nEnable the frobnicator? [y/N]: ").await.unwrap();
        let began = Instant::now();
        let quiet = Duration::from_secs(2);
        let e = wait_setup_quiet(&con, Instant::now() + Duration::from_secs(1800), &|_| {}, quiet).await.unwrap_err();
        assert!(began.elapsed() >= quiet && began.elapsed() < quiet + Duration::from_secs(3), "{:?}", began.elapsed());
        assert!(
            matches!(&e, SetupStop::Question { question, .. } if question == "Enable the frobnicator? [y/N]:"),
            "{e:?}"
        );
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
