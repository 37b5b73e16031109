//! One connected, authenticated SSH session to a guest.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, load_secret_key};
use russh::{ChannelMsg, Disconnect};
use tokio::time::Instant;

use super::error::from_russh;
use super::hostkey::{Pinned, Seen, key_line, load_pinned_key, lock};
use super::{ExecOutput, SshError, SshTarget};

/// Keepalive every second; three unanswered ones end the session (a dead guest shows in ~4 s).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_MAX: usize = 3;
/// Per-attempt deadline and pause between attempts in [`Ssh::connect_until`].
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// One connected, authenticated session. Commands may run concurrently from several tasks:
/// each gets its own channel.
pub struct Ssh {
    handle: Handle<Pinned>,
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl std::fmt::Debug for Ssh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh").field("addr", &self.addr).field("closed", &self.handle.is_closed()).finish()
    }
}

impl Ssh {
    /// One attempt: TCP connect, handshake and authentication, all under `timeout` (QEMU's
    /// hostfwd accepts the TCP connection before the guest listens, then hangs).
    pub async fn connect(t: &SshTarget, timeout: Duration) -> Result<Ssh, SshError> {
        let what = || format!("ssh handshake with {}", t.addr);
        deadline(timeout, what, Self::connect_inner(t)).await
    }

    async fn connect_inner(t: &SshTarget) -> Result<Ssh, SshError> {
        let key = load_secret_key(&t.client_key, None)
            .map_err(|e| SshError::Auth(format!("loading {}: {e}", t.client_key.display())))?;
        // No pinned key yet (an image whose host key is made at its first boot, like coal's):
        // trust the first key offered and pin it.
        let expected = if t.host_key.exists() { Some(load_pinned_key(&t.host_key)?) } else { None };
        let expected_line = expected.as_ref().map(key_line).unwrap_or_default();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let config = client::Config {
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: KEEPALIVE_MAX,
            nodelay: true,
            ..Default::default()
        };
        let handler = Pinned { expected, seen: seen.clone() };
        let mismatch = |e: russh::Error| match lock(&seen).mismatch.take() {
            Some(got) => SshError::HostKeyMismatch { expected: expected_line.clone(), got },
            None => from_russh(e),
        };
        let mut handle = client::connect(Arc::new(config), t.addr, handler).await.map_err(mismatch)?;
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), None);
        let auth = handle.authenticate_publickey(&t.user, key).await.map_err(from_russh)?;
        if !auth.success() {
            return Err(SshError::Auth(format!("{}@{} refused our key", t.user, t.addr)));
        }
        if let Some(first) = lock(&seen).first_use.take() {
            let line = format!("{}\n", key_line(&first));
            std::fs::write(&t.host_key, line)
                .map_err(|e| SshError::Io(format!("pinning the host key in {}: {e}", t.host_key.display())))?;
            tracing::warn!(key = %key_line(&first), file = %t.host_key.display(), "no host key was pinned: trusting the first one offered");
        }
        Ok(Ssh { handle, addr: t.addr, seen })
    }

    /// Retries [`Ssh::connect`] until a session is up and `true` runs in it, or `deadline`
    /// passes. A host-key mismatch or refused key ends the wait at once.
    pub async fn connect_until(t: &SshTarget, deadline: Instant) -> Result<Ssh, SshError> {
        let started = Instant::now();
        let mut last = String::from("no attempt made");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let what = format!("ssh to {} (last error: {last})", t.addr);
                return Err(SshError::Timeout { what, after: started.elapsed() });
            }
            let attempt = left.min(ATTEMPT_TIMEOUT);
            match Self::connect(t, attempt).await {
                Ok(ssh) => match ssh.exec("true", attempt).await {
                    Ok(out) if out.success() => return Ok(ssh),
                    Ok(out) => last = format!("`true` gave status {:?}", out.status),
                    Err(e) => last = e.to_string(),
                },
                Err(e @ (SshError::HostKeyMismatch { .. } | SshError::Auth(_))) => return Err(e),
                Err(e) => last = e.to_string(),
            }
            tracing::trace!(addr = %t.addr, error = %last, "ssh not ready yet");
            tokio::time::sleep(RETRY_PAUSE.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Runs `cmd` (through the guest's shell) and collects stdout, stderr and exit status.
    pub async fn exec(&self, cmd: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        let mut stdout = Vec::new();
        let what = || format!("ssh exec {cmd:?} on {}", self.addr);
        let (stderr, status) = deadline(
            timeout,
            what,
            self.run(cmd, |d| {
                stdout.extend_from_slice(d);
                Ok(())
            }),
        )
        .await?;
        Ok(ExecOutput { stdout, stderr, status })
    }

    /// Starts `cmd` detached from the session (new session, stdio on /dev/null, in the
    /// background) and returns once the shell has launched it: for `reboot -f` and the like.
    pub async fn spawn_detached(&self, cmd: &str, timeout: Duration) -> Result<(), SshError> {
        let wrapped = format!("setsid sh -c {} </dev/null >/dev/null 2>&1 &", shell_quote(cmd));
        let out = self.exec(&wrapped, timeout).await?;
        match out.status {
            Some(0) => Ok(()),
            other => Err(SshError::Protocol(format!(
                "starting {cmd:?} detached: status {other:?}, stderr {:?}",
                out.stderr_str()
            ))),
        }
    }

    /// Copies a guest file to `local` (through `cat`: dropbear has no sftp server); returns
    /// the number of bytes written.
    pub async fn download(&self, remote: &str, local: &Path, timeout: Duration) -> Result<u64, SshError> {
        let io = |e: std::io::Error| SshError::Io(format!("writing {}: {e}", local.display()));
        let mut file = std::io::BufWriter::new(std::fs::File::create(local).map_err(io)?);
        let mut bytes = 0u64;
        let cmd = format!("cat -- {}", shell_quote(remote));
        let what = || format!("ssh download {remote} from {}", self.addr);
        let sink = |d: &[u8]| {
            bytes += d.len() as u64;
            file.write_all(d).map_err(io)
        };
        let (stderr, status) = deadline(timeout, what, self.run(&cmd, sink)).await?;
        if status != Some(0) {
            return Err(SshError::Io(format!(
                "reading {remote} on the guest: status {status:?}: {}",
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        file.flush().map_err(io)?;
        Ok(bytes)
    }

    /// Whether the session has ended (the guest dropped it, or it died of its keepalive).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Ends the session politely.
    pub async fn close(self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "", "en").await;
    }

    /// Runs `cmd` on a new channel, feeding stdout to `sink`; returns stderr and exit status.
    async fn run(
        &self,
        cmd: &str,
        mut sink: impl FnMut(&[u8]) -> Result<(), SshError>,
    ) -> Result<(Vec<u8>, Option<u32>), SshError> {
        if self.handle.is_closed() {
            return Err(self.disconnected());
        }
        let mut channel = self.handle.channel_open_session().await.map_err(|e| self.map(e))?;
        channel.exec(true, cmd).await.map_err(|e| self.map(e))?;
        let (mut stderr, mut status) = (Vec::new(), None);
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => sink(&data)?,
                ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        // The channel ended without a status because the whole session went away.
        if status.is_none() && self.handle.is_closed() {
            return Err(self.disconnected());
        }
        Ok((stderr, status))
    }

    /// Maps an error on a live session: once the session is gone, everything is `Disconnected`.
    fn map(&self, e: russh::Error) -> SshError {
        if self.handle.is_closed() { self.disconnected() } else { from_russh(e) }
    }

    fn disconnected(&self) -> SshError {
        let why = lock(&self.seen).disconnect.clone();
        SshError::Disconnected(why.unwrap_or_else(|| format!("session to {} closed", self.addr)))
    }
}

/// Runs `fut` under `timeout`, turning expiry into [`SshError::Timeout`].
async fn deadline<T>(
    timeout: Duration,
    what: impl FnOnce() -> String,
    fut: impl Future<Output = Result<T, SshError>>,
) -> Result<T, SshError> {
    tokio::time::timeout(timeout, fut).await.unwrap_or_else(|_| Err(SshError::Timeout { what: what(), after: timeout }))
}

/// Quotes `s` as one POSIX shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_shell_words() {
        assert_eq!(shell_quote("reboot -f"), "'reboot -f'");
        assert_eq!(shell_quote("echo 'x'"), r"'echo '\''x'\'''");
    }
}
