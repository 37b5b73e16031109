//! The QMP client. It owns the transport: one reader task routes replies by their own id and
//! records events, so an unknown event, a cancelled command or a slow reply can never
//! corrupt another command. Commands are qapi's typed commands (or raw JSON for test cases).
//! Every message both ways is written to the transcript.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::event::QmpEvent;
use crate::journal::{Cursor, Journal, WaitEnd};

/// Why a QMP operation failed. Typed: callers branch on a closed monitor (QEMU gone).
#[derive(Debug, Clone, thiserror::Error)]
pub enum QmpError {
    /// No answer in time.
    #[error("QMP {what}: {}", waited(after))]
    Timeout {
        /// The command or event awaited.
        what: String,
        /// How long the rig waited.
        after: Duration,
    },
    /// The monitor connection closed: QEMU exited.
    #[error("QMP {0}: the monitor closed (QEMU exited)")]
    Closed(String),
    /// QEMU refused the command.
    #[error("QMP {command} failed: {class}: {desc}")]
    Command {
        /// The command.
        command: String,
        /// QEMU's error class.
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// A reply the rig could not understand.
    #[error("QMP protocol error: {0}")]
    Protocol(String),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, QmpError>>>>>;

/// A connected QMP monitor.
pub struct Qmp {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    events: Journal<QmpEvent>,
    transcript: Transcript,
    /// QEMU's version from the greeting, e.g. `7.2.22`.
    pub version: String,
}

#[derive(Clone)]
struct Transcript(Arc<Mutex<File>>, Instant);

impl Transcript {
    fn write(&self, dir: &str, line: &str) {
        let mut f = self.0.lock().unwrap();
        let _ = writeln!(f, "{:>10.3} {dir} {}", self.1.elapsed().as_secs_f64(), line.trim_end());
    }
}

impl Qmp {
    /// Reads the greeting, negotiates capabilities and starts the reader task. The transcript
    /// goes to `transcript` (times relative to `start`).
    pub async fn connect(
        stream: UnixStream,
        transcript: &Path,
        start: Instant,
        timeout: Duration,
    ) -> Result<Qmp, QmpError> {
        let file = File::create(transcript)
            .map_err(|e| QmpError::Protocol(format!("creating {}: {e}", transcript.display())))?;
        let transcript = Transcript(Arc::new(Mutex::new(file)), start);
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        let deadline = Instant::now() + timeout;

        let greeting = read_json(&mut rd, (deadline, timeout), &transcript, "greeting").await?;
        let version = greeting
            .pointer("/QMP/version/qemu")
            .map(|v| format!("{}.{}.{}", v["major"], v["minor"], v["micro"]))
            .ok_or_else(|| QmpError::Protocol(format!("not a QMP greeting: {greeting}")))?;
        let caps = json!({"execute": "qmp_capabilities", "id": 0}).to_string();
        transcript.write("->", &caps);
        wr.write_all(format!("{caps}\n").as_bytes()).await.map_err(|_| QmpError::Closed("qmp_capabilities".into()))?;
        loop {
            let reply = read_json(&mut rd, (deadline, timeout), &transcript, "qmp_capabilities").await?;
            if reply.get("return").is_some() {
                break;
            }
            if let Some(err) = reply.get("error") {
                return Err(QmpError::Protocol(format!("qmp_capabilities refused: {err}")));
            }
        }

        let qmp = Qmp {
            writer: tokio::sync::Mutex::new(wr),
            pending: Arc::default(),
            next_id: AtomicU64::new(1),
            events: Journal::new(10_000),
            transcript: transcript.clone(),
            version,
        };
        tokio::spawn(reader(rd, qmp.pending.clone(), qmp.events.clone(), transcript));
        Ok(qmp)
    }

    /// Runs a typed qapi command, e.g. `qmp.execute(&qapi::qmp::query_status {}, t)`.
    pub async fn execute<C: qapi::Command>(&self, cmd: &C, timeout: Duration) -> Result<C::Ok, QmpError> {
        let args = serde_json::to_value(cmd).map_err(|e| QmpError::Protocol(e.to_string()))?;
        let ret = self.execute_raw(C::NAME, args, timeout).await?;
        serde_json::from_value(ret.clone()).map_err(|e| QmpError::Protocol(format!("{} returned {ret}: {e}", C::NAME)))
    }

    /// Runs a command given by name with JSON arguments (as a test case writes it).
    pub async fn execute_raw(&self, name: &str, args: Value, timeout: Duration) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"execute": name, "id": id});
        if !args.is_null() && args.as_object().is_none_or(|o| !o.is_empty()) {
            msg["arguments"] = args;
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        let line = msg.to_string();
        self.transcript.write("->", &line);
        let sent = {
            let mut w = self.writer.lock().await;
            w.write_all(format!("{line}\n").as_bytes()).await
        };
        if sent.is_err() {
            self.pending.lock().unwrap().remove(&id);
            return Err(QmpError::Closed(name.into()));
        }
        let r = tokio::time::timeout(timeout, rx).await;
        self.pending.lock().unwrap().remove(&id);
        match r {
            Err(_) => Err(QmpError::Timeout { what: name.into(), after: timeout }),
            Ok(Err(_)) => Err(QmpError::Closed(name.into())),
            Ok(Ok(Err(QmpError::Command { class, desc, .. }))) => {
                Err(QmpError::Command { command: name.into(), class, desc })
            }
            Ok(Ok(r)) => r,
        }
    }

    /// Runs an HMP command (e.g. `info registers -a`) and returns its text.
    pub async fn hmp(&self, command_line: &str, timeout: Duration) -> Result<String, QmpError> {
        self.execute(&qapi::qmp::human_monitor_command { command_line: command_line.into(), cpu_index: None }, timeout)
            .await
    }

    /// The position after the newest event: wait from here for events yet to come.
    pub fn event_cursor(&self) -> Cursor {
        self.events.cursor()
    }

    /// All events from `from` on still in memory.
    pub fn events_since(&self, from: Cursor) -> Vec<QmpEvent> {
        self.events.since(from)
    }

    /// Waits for an event named `name` at or after `from`.
    pub async fn wait_event(
        &self,
        name: &str,
        from: Cursor,
        deadline: Instant,
    ) -> Result<(Cursor, QmpEvent), QmpError> {
        let began = Instant::now();
        self.events.wait_for(from, deadline, |e| (e.name == name).then(|| e.clone())).await.map_err(|end| match end {
            WaitEnd::Closed => QmpError::Closed(format!("waiting for {name}")),
            // What the wait was given: none at all when its deadline had passed already.
            WaitEnd::Deadline => {
                QmpError::Timeout { what: format!("event {name}"), after: deadline.saturating_duration_since(began) }
            }
        })
    }

    /// Whether the monitor has closed (QEMU exited).
    pub fn is_closed(&self) -> bool {
        self.events.is_closed()
    }
}

/// How a timeout's wait reads: what was waited, to the millisecond; a wait of no time at all
/// is a deadline that had passed before it began, not "no answer within 0ns".
fn waited(after: &Duration) -> String {
    match u64::try_from(after.as_millis()).unwrap_or(u64::MAX) {
        0 => "no time was left to wait: the deadline had passed before the wait began".into(),
        ms => format!("no answer within {:?}", Duration::from_millis(ms)),
    }
}

/// Reads one message before `deadline`, the end of a wait of `bound` (what a timeout reports).
async fn read_json(
    rd: &mut BufReader<OwnedReadHalf>,
    (deadline, bound): (Instant, Duration),
    t: &Transcript,
    what: &str,
) -> Result<Value, QmpError> {
    let mut line = String::new();
    match tokio::time::timeout_at(deadline, rd.read_line(&mut line)).await {
        Err(_) => Err(QmpError::Timeout { what: what.into(), after: bound }),
        Ok(Err(_)) | Ok(Ok(0)) => Err(QmpError::Closed(what.into())),
        Ok(Ok(_)) => {
            t.write("<-", &line);
            serde_json::from_str(&line).map_err(|e| QmpError::Protocol(format!("{what}: {e}: {line}")))
        }
    }
}

async fn reader(mut rd: BufReader<OwnedReadHalf>, pending: Pending, events: Journal<QmpEvent>, t: Transcript) {
    let mut line = String::new();
    loop {
        line.clear();
        match rd.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        t.write("<-", &line);
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            tracing::warn!(line = line.trim_end(), "unparsable QMP message ignored");
            continue;
        };
        if let Some(ev) = QmpEvent::from_message(&msg) {
            tracing::debug!(event = %ev.name, "qmp event");
            events.push(ev);
            continue;
        }
        let Some(id) = msg.get("id").and_then(Value::as_u64) else { continue };
        let Some(tx) = pending.lock().unwrap().remove(&id) else { continue };
        let result = match (msg.get("return"), msg.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(e)) => Err(QmpError::Command {
                command: String::new(),
                class: e["class"].as_str().unwrap_or("?").into(),
                desc: e["desc"].as_str().unwrap_or("?").into(),
            }),
            _ => Err(QmpError::Protocol(format!("reply without return or error: {msg}"))),
        };
        let _ = tx.send(result);
    }
    // QEMU is gone: fail every command still waiting.
    pending.lock().unwrap().clear();
    events.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A fake QEMU monitor on the other end of a socket pair.
    struct Fake {
        rd: BufReader<OwnedReadHalf>,
        wr: OwnedWriteHalf,
    }

    impl Fake {
        async fn send(&mut self, v: Value) {
            self.wr.write_all(format!("{v}\r\n").as_bytes()).await.unwrap();
        }
        async fn recv(&mut self) -> Value {
            let mut line = String::new();
            self.rd.read_line(&mut line).await.unwrap();
            serde_json::from_str(&line).unwrap()
        }
    }

    async fn connected() -> (Qmp, Fake, std::path::PathBuf) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (rd, wr) = theirs.into_split();
        let mut fake = Fake { rd: BufReader::new(rd), wr };
        let transcript = std::env::temp_dir().join(format!(
            "rig-qmp-test-{}-{:?}.log",
            std::process::id(),
            std::thread::current().id()
        ));
        let path = transcript.clone();
        let client =
            tokio::spawn(async move { Qmp::connect(ours, &path, Instant::now(), Duration::from_secs(5)).await });
        fake.send(json!({"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 99}, "package": ""}, "capabilities": ["oob"]}})).await;
        let caps = fake.recv().await;
        assert_eq!(caps["execute"], "qmp_capabilities");
        fake.send(json!({"return": {}, "id": caps["id"]})).await;
        (client.await.unwrap().unwrap(), fake, transcript)
    }

    #[tokio::test]
    async fn events_unknown_to_qapi_do_not_break_the_stream() {
        let (qmp, mut fake, transcript) = connected().await;
        assert_eq!(qmp.version, "99.0.0");
        let from = qmp.event_cursor();
        let server = tokio::spawn(async move {
            let cmd = fake.recv().await;
            assert_eq!(cmd["execute"], "query-status");
            // A future QEMU's event qapi has never heard of, between command and reply.
            fake.send(
                json!({"event": "FUTURE_THING", "data": {"x": [1, 2]}, "timestamp": {"seconds": 1, "microseconds": 2}}),
            )
            .await;
            fake.send(json!({"return": {"running": true, "status": "running", "newfield": 1}, "id": cmd["id"]})).await;
            fake
        });
        let st = qmp.execute(&qapi::qmp::query_status {}, Duration::from_secs(5)).await.unwrap();
        assert!(st.running);
        let (_, ev) = qmp.wait_event("FUTURE_THING", from, Instant::now() + Duration::from_secs(5)).await.unwrap();
        assert_eq!(ev.data["x"][1], 2);
        drop(server.await.unwrap());
        // QEMU gone: the next command fails as Closed, not as a hang.
        assert!(matches!(
            qmp.execute(&qapi::qmp::query_status {}, Duration::from_secs(5)).await,
            Err(QmpError::Closed(_))
        ));
        let log = std::fs::read_to_string(&transcript).unwrap();
        assert!(log.contains("FUTURE_THING") && log.contains("-> {"), "{log}");
        let _ = std::fs::remove_file(transcript);
    }

    #[tokio::test]
    async fn a_silent_monitor_is_reported_with_the_time_waited() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let transcript = std::env::temp_dir().join(format!("rig-qmp-silent-{}.log", std::process::id()));
        let began = Instant::now();
        let e = Qmp::connect(ours, &transcript, began, Duration::from_millis(300)).await.err().expect("no greeting");
        assert!(began.elapsed() >= Duration::from_millis(300));
        assert!(matches!(&e, QmpError::Timeout { after, .. } if *after >= Duration::from_millis(300)), "{e:?}");
        assert_eq!(e.to_string(), "QMP greeting: no answer within 300ms");
        let _ = std::fs::remove_file(transcript);
    }

    #[tokio::test]
    async fn a_wait_whose_deadline_had_passed_says_so_not_0ns() {
        let (qmp, _fake, transcript) = connected().await;
        let e = qmp.wait_event("STOP", Cursor::default(), Instant::now()).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "QMP event STOP: no time was left to wait: the deadline had passed before the wait began"
        );
        let e =
            qmp.wait_event("STOP", Cursor::default(), Instant::now() + Duration::from_millis(50)).await.unwrap_err();
        let e = e.to_string();
        assert!(e.starts_with("QMP event STOP: no answer within ") && e.ends_with("ms") && !e.contains("0ns"), "{e}");
        let _ = std::fs::remove_file(transcript);
    }

    #[tokio::test]
    async fn a_timed_out_command_does_not_take_the_next_reply() {
        let (qmp, mut fake, transcript) = connected().await;
        let slow = qmp.execute_raw("slow-thing", Value::Null, Duration::from_millis(100)).await;
        assert!(matches!(slow, Err(QmpError::Timeout { .. })), "{slow:?}");
        let first = fake.recv().await;
        let server = tokio::spawn(async move {
            let second = fake.recv().await;
            // The late reply to the first command arrives before the second's.
            fake.send(json!({"return": "late", "id": first["id"]})).await;
            fake.send(json!({"return": "mine", "id": second["id"]})).await;
            let mut rest = Vec::new();
            let _ = fake.rd.read_to_end(&mut rest).await;
        });
        let r = qmp.execute_raw("fast-thing", Value::Null, Duration::from_secs(5)).await.unwrap();
        assert_eq!(r, "mine");
        drop(qmp);
        server.abort();
        let _ = std::fs::remove_file(transcript);
    }

    #[tokio::test]
    async fn refused_commands_carry_qemus_error() {
        let (qmp, mut fake, transcript) = connected().await;
        let server = tokio::spawn(async move {
            let cmd = fake.recv().await;
            fake.send(json!({"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": cmd["id"]})).await;
            fake
        });
        let e = qmp.execute_raw("nope", Value::Null, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(e.to_string(), "QMP nope failed: CommandNotFound: The command nope has not been found");
        drop(server.await.unwrap());
        let _ = std::fs::remove_file(transcript);
    }
}
