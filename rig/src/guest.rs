//! A running guest: one value that owns the QEMU child, its consoles, the QMP monitor, the
//! SSH session and its evidence directory. Dropping it kills QEMU; nothing outlives it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::net::UnixStream;
use tokio::time::Instant;

use crate::console::stall::{STALL_GRACE, StallWatch};
use crate::console::{Console, ConsoleWaitError, Pattern};
use crate::journal::Cursor;
use crate::machine::{ChannelFds, MachineSpec, qemu_args, shell_line};
use crate::profile::{Profile, Ready};
use crate::qemu::{QemuProcess, qemu_binary};
use crate::qmp::{Qmp, QmpError};
pub use crate::ssh::SshKeys;
use crate::ssh::{Ssh, SshError, SshTarget};

/// How long QEMU gets to open its monitor.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the guest gets to tell its boot identity over SSH.
const BOOT_ID_TIMEOUT: Duration = Duration::from_secs(30);

/// How long logging in again after a `savevm` may take.
const REVIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a boot wait looks at the consoles for stall reports.
const STALL_POLL: Duration = Duration::from_millis(500);

/// One boot of the guest, as seen by the rig.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BootInfo {
    /// The per-boot nonce the guest printed.
    pub boot_id: String,
    /// Seconds from QEMU start (or the reboot request) to the ready marker.
    pub ready_secs: f64,
    /// Seconds from QEMU start (or the reboot request) to a working SSH session.
    pub ssh_secs: f64,
}

/// Why waiting for the guest failed. Typed so callers can tell a hang from a dead QEMU.
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// The ready marker never came (the error carries the console tail).
    #[error("the guest never became ready: {0}")]
    NotReady(ConsoleWaitError),
    /// The ready marker came but SSH did not answer.
    #[error("the guest printed its ready marker but SSH did not answer: {0}")]
    Ssh(SshError),
    /// The guest's kernel reported a stall (soft lockup, RCU stall, hung task) while booting
    /// and its OS console then made no progress: a wedged boot, infrastructure rather than a
    /// kernel verdict when it happens under TCG on a loaded host.
    #[error(
        "the guest's kernel stalled while booting: {console} printed '{first}' (latest: '{latest}') and the OS \
         console made no progress for {grace_secs} s after it"
    )]
    Stalled {
        /// The console that printed the report.
        console: String,
        /// The first stall report.
        first: String,
        /// The newest stall report.
        latest: String,
        /// The grace the OS console had to make progress.
        grace_secs: u64,
    },
    /// Every console stayed silent for `secs` while the guest booted: a boot that went
    /// silent (under TCG it happens now and then), not a kernel verdict.
    #[error("the boot went silent: no console printed anything for {secs} s; the last line was \"{last}\"")]
    Silent {
        /// How long nothing came.
        secs: u64,
        /// The last line any console printed (the unfinished one included).
        last: String,
    },
    /// QEMU exited.
    #[error("QEMU exited ({status}); its stderr:\n{stderr}")]
    QemuExited {
        /// How it ended.
        status: crate::qemu::QemuExit,
        /// The tail of QEMU's stderr.
        stderr: String,
    },
}

/// The shareable part of a running guest: its channels and the current boot. Steps of a test
/// case running concurrently (a background loop, the branches of a race) each hold a clone.
#[derive(Clone)]
pub struct GuestLink {
    qmp: Arc<Qmp>,
    consoles: Vec<Console>,
    profile: Profile,
    ssh_target: SshTarget,
    ssh: Arc<Mutex<Option<Arc<Ssh>>>>,
    boot: Arc<Mutex<Option<BootInfo>>>,
    start: Instant,
    stall_grace: Duration,
    after_panic_silence: Option<Duration>,
    qemu_pid: i32,
}

impl GuestLink {
    /// QEMU's process id.
    pub fn qemu_pid(&self) -> i32 {
        self.qemu_pid
    }

    /// Sets how long the OS console may stay silent after a stall report before a boot wait
    /// gives up ([`STALL_GRACE`] by default).
    pub fn set_stall_grace(&mut self, grace: Duration) {
        self.stall_grace = grace;
    }

    /// How long the consoles may stay silent while the guest reboots after a panic (its dump,
    /// its debugger, the boot), when set with [`Guest::set_after_panic_silence`]; `None`: the
    /// guest OS's own bound.
    pub fn after_panic_silence(&self) -> Option<Duration> {
        self.after_panic_silence
    }

    /// Waits for a boot whose ready marker appears at or after `from` and whose nonce differs
    /// from `previous`: proof that the guest really rebooted. `since` is when the reboot began.
    pub async fn wait_boot(
        &self,
        from: Cursor,
        previous: Option<&str>,
        since: Instant,
        deadline: Instant,
    ) -> Result<BootInfo, GuestError> {
        self.wait_boot_within(from, previous, since, deadline, None).await
    }

    /// [`GuestLink::wait_boot`], also ending when every console has been silent for
    /// `silence` (when given).
    pub async fn wait_boot_within(
        &self,
        from: Cursor,
        previous: Option<&str>,
        since: Instant,
        deadline: Instant,
        silence: Option<Duration>,
    ) -> Result<BootInfo, GuestError> {
        let silent = async {
            match silence {
                Some(limit) => self.watch_silence(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = self.wait_boot_unwatched(from, previous, since, deadline) => r,
            stall = self.watch_stalls(from) => Err(stall),
            silent = silent => Err(silent),
        }
    }

    /// Watches every console until none has printed anything (a line or part of one) for
    /// `limit`; never returns otherwise. Race it against a wait.
    pub async fn watch_silence(&self, limit: Duration) -> GuestError {
        let seen = |c: &Console| (c.cursor(), c.partial());
        let mut last: Vec<_> = self.consoles.iter().map(seen).collect();
        let mut changed = Instant::now();
        loop {
            tokio::time::sleep(STALL_POLL.min(limit)).await;
            let now: Vec<_> = self.consoles.iter().map(seen).collect();
            if now != last {
                (last, changed) = (now, Instant::now());
            } else if changed.elapsed() >= limit {
                let last = self.consoles.iter().filter_map(|c| c.tail(1).pop()).next_back().unwrap_or_default();
                tracing::warn!(secs = limit.as_secs(), last = %last, "the guest's consoles went silent");
                return GuestError::Silent { secs: changed.elapsed().as_secs(), last };
            }
        }
    }

    /// Watches every console (the OS console from `from`, the others from now) until a
    /// kernel's stall report is followed by no progress on the OS console for the stall grace
    /// (see [`crate::console::stall`]); never returns otherwise. Race it against a boot wait.
    pub async fn watch_stalls(&self, from: Cursor) -> GuestError {
        let os = self.console().name().to_string();
        let mut watch = StallWatch::new(self.stall_grace, self.profile.stall_dialects.get());
        let mut cursors: Vec<Cursor> =
            self.consoles.iter().map(|c| if c.name() == os { from } else { c.cursor() }).collect();
        loop {
            let now = std::time::Instant::now();
            for (c, at) in self.consoles.iter().zip(cursors.iter_mut()) {
                let (lines, next) = c.read_from(*at);
                *at = next;
                for l in &lines {
                    watch.feed(c.name(), c.name() == os, &l.text, now);
                }
            }
            if let Some(s) = watch.stalled(now) {
                tracing::warn!(console = %s.console, report = %s.line, "the guest's boot stalled");
                return GuestError::Stalled {
                    console: s.console.clone(),
                    first: s.line.clone(),
                    latest: s.latest.clone(),
                    grace_secs: watch.grace().as_secs(),
                };
            }
            tokio::time::sleep(STALL_POLL).await;
        }
    }

    async fn wait_boot_unwatched(
        &self,
        from: Cursor,
        previous: Option<&str>,
        since: Instant,
        deadline: Instant,
    ) -> Result<BootInfo, GuestError> {
        self.ssh.lock().unwrap().take();
        let ready = Pattern::regex(self.profile.ready.pattern()).expect("profile ready pattern is a valid regex");
        let mut from = from;
        let (m, boot_id) = loop {
            let console = self.console();
            let m = match self.profile.ready {
                Ready::Prompt(_) => console.wait_for_prompt(&ready, from, deadline).await,
                Ready::NonceLine(_) => console.wait_for(&ready, from, deadline).await,
            }
            .map_err(GuestError::NotReady)?;
            from = m.cursor + 1;
            if let Ready::NonceLine(_) = self.profile.ready {
                if previous == Some(m.capture.as_str()) {
                    continue;
                }
                let ssh = Ssh::connect_until(&self.ssh_target, deadline).await.map_err(GuestError::Ssh)?;
                *self.ssh.lock().unwrap() = Some(Arc::new(ssh));
                let id = m.capture.clone();
                break (m, id);
            }
            let (ssh, id) = self.login(deadline).await?;
            if id.is_empty() || previous == Some(id.as_str()) {
                // The old boot's prompt, or no identity yet: wait for the next prompt.
                continue;
            }
            *self.ssh.lock().unwrap() = Some(Arc::new(ssh));
            break (m, id);
        };
        let ready_secs = (self.start + m.line.t).saturating_duration_since(since).as_secs_f64();
        let info = BootInfo { boot_id, ready_secs, ssh_secs: since.elapsed().as_secs_f64() };
        tracing::info!(boot_id = %info.boot_id, ready = info.ready_secs, ssh = info.ssh_secs, "guest ready");
        *self.boot.lock().unwrap() = Some(info.clone());
        Ok(info)
    }

    /// Readiness of a machine restored from a saved state: no boot to watch, so SSH alone (and
    /// the boot identity over SSH when the profile has one).
    pub async fn wait_ssh_ready(&self, deadline: Instant) -> Result<BootInfo, GuestError> {
        let since = Instant::now();
        self.ssh.lock().unwrap().take();
        let (ssh, boot_id) = self.login(deadline).await?;
        *self.ssh.lock().unwrap() = Some(Arc::new(ssh));
        let secs = since.elapsed().as_secs_f64();
        let info = BootInfo { boot_id, ready_secs: secs, ssh_secs: secs };
        *self.boot.lock().unwrap() = Some(info.clone());
        Ok(info)
    }

    /// Logs in and asks the guest for its boot identity. A session that died of its keepalive
    /// meanwhile (the guest paused or starved right after it let us in: a `savevm`, a reboot
    /// on a loaded host) is not the guest's answer: the rig logs in once more and asks again
    /// before giving up. Returns the session that answered.
    async fn login(&self, deadline: Instant) -> Result<(Ssh, String), GuestError> {
        let ssh = Ssh::connect_until(&self.ssh_target, deadline).await.map_err(GuestError::Ssh)?;
        let cmd = self.profile.boot_id_command;
        let id = |o: crate::ssh::ExecOutput| String::from_utf8_lossy(&o.stdout).trim().to_string();
        match ssh.exec(cmd, BOOT_ID_TIMEOUT).await {
            Ok(out) => Ok((ssh, id(out))),
            Err(SshError::Disconnected(why)) => {
                tracing::warn!(%why, "the SSH session dropped as the guest became ready: logging in once more");
                let ssh = Ssh::connect_until(&self.ssh_target, deadline).await.map_err(GuestError::Ssh)?;
                let out = ssh.exec(cmd, BOOT_ID_TIMEOUT).await.map_err(GuestError::Ssh)?;
                Ok((ssh, id(out)))
            }
            Err(e) => Err(GuestError::Ssh(e)),
        }
    }

    /// Logs in again, once, when the SSH session died while the guest was paused (its
    /// keepalives unanswered: a `savevm` stops the guest for longer than they wait), and checks
    /// that it is still the same boot; a live session is kept. A guest that rebooted meanwhile
    /// is an error, never hidden behind a new session.
    pub async fn revive_ssh(&self, deadline: Instant) -> Result<(), GuestError> {
        let Some(old) = self.ssh.lock().unwrap().clone() else { return Ok(()) };
        if !old.is_closed() {
            return Ok(());
        }
        tracing::warn!("the SSH session died while the guest was paused: logging in once more");
        self.ssh.lock().unwrap().take();
        let (ssh, id) = self.login(deadline).await?;
        if let Some(was) = self.boot().map(|b| b.boot_id).filter(|b| !b.is_empty())
            && id != was
        {
            return Err(GuestError::Ssh(SshError::Disconnected(format!(
                "the guest rebooted while its session was down (boot {was}, now {id})"
            ))));
        }
        *self.ssh.lock().unwrap() = Some(Arc::new(ssh));
        Ok(())
    }

    /// Drops the SSH session and logs in again (after a snapshot restore the guest's TCP state
    /// no longer matches the old connection).
    pub async fn reconnect(&self, deadline: Instant) -> Result<(), GuestError> {
        self.ssh.lock().unwrap().take();
        let ssh = Ssh::connect_until(&self.ssh_target, deadline).await.map_err(GuestError::Ssh)?;
        *self.ssh.lock().unwrap() = Some(Arc::new(ssh));
        Ok(())
    }

    /// Saves the whole VM state under `tag` (HMP `savevm`; needs the machine's state disk).
    /// The guest is stopped meanwhile, long enough under TCG for its SSH session to die of
    /// its keepalive: it is revived once ([`GuestLink::revive_ssh`]).
    pub async fn save_snapshot(&self, tag: &str) -> Result<()> {
        hmp_ok(&self.qmp, &format!("savevm {tag}")).await?;
        self.revive_ssh(Instant::now() + REVIVE_TIMEOUT).await.context("after savevm")
    }

    /// Restores the VM state saved under `tag` (HMP `loadvm`) and logs in again over SSH.
    /// Returns the seconds it took.
    pub async fn restore_snapshot(&self, tag: &str, deadline: Instant) -> Result<f64> {
        let began = Instant::now();
        hmp_ok(&self.qmp, &format!("loadvm {tag}")).await?;
        if !self.qmp.execute(&qapi::qmp::query_status {}, QMP_TIMEOUT).await?.running {
            self.qmp.execute(&qapi::qmp::cont {}, QMP_TIMEOUT).await?;
        }
        self.reconnect(deadline).await?;
        Ok(began.elapsed().as_secs_f64())
    }

    /// The SSH session of the current boot.
    pub fn ssh(&self) -> Result<Arc<Ssh>> {
        self.ssh.lock().unwrap().clone().ok_or_else(|| anyhow!("no SSH session: the guest is not ready"))
    }

    /// Runs a command over SSH, failing unless it exits 0; returns its stdout.
    pub async fn run(&self, cmd: &str, timeout: Duration) -> Result<String> {
        let out = self.ssh()?.exec(cmd, timeout).await.with_context(|| format!("running `{cmd}` in the guest"))?;
        if out.status != Some(0) {
            anyhow::bail!(
                "`{cmd}` exited with {:?} in the guest; stderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The OS console: the serial port the profile names (the first one if there are fewer).
    pub fn console(&self) -> &Console {
        &self.consoles[self.profile.console_port.min(self.consoles.len() - 1)]
    }

    /// All serial consoles.
    pub fn consoles(&self) -> &[Console] {
        &self.consoles
    }

    /// The QMP monitor.
    pub fn qmp(&self) -> &Qmp {
        &self.qmp
    }

    /// The guest's profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The current boot, once ready.
    pub fn boot(&self) -> Option<BootInfo> {
        self.boot.lock().unwrap().clone()
    }

    /// Where SSH reaches the guest.
    pub fn ssh_target(&self) -> &SshTarget {
        &self.ssh_target
    }

    /// When QEMU started.
    pub fn started(&self) -> Instant {
        self.start
    }
}

/// HMP commands report failure as text; an empty answer is success.
async fn hmp_ok(qmp: &Qmp, command: &str) -> Result<()> {
    let out = qmp.hmp(command, Duration::from_secs(120)).await?;
    if !out.trim().is_empty() {
        anyhow::bail!("`{command}` failed: {}", out.trim());
    }
    Ok(())
}

/// A running guest: owns QEMU; dropping it kills QEMU.
pub struct Guest {
    qemu: QemuProcess,
    link: GuestLink,
    dir: PathBuf,
    spec: MachineSpec,
    /// How long the consoles may stay silent during the first boot.
    boot_silence: Option<Duration>,
    /// A boot wait of this guest ended because the consoles went silent.
    went_silent: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for Guest {
    type Target = GuestLink;
    fn deref(&self) -> &GuestLink {
        &self.link
    }
}
impl Guest {
    /// Starts QEMU for `spec` with its evidence in `dir`, connects QMP and the consoles, reads
    /// the SSH port QEMU picked, and lets the vCPUs run.
    pub async fn launch(spec: MachineSpec, profile: Profile, keys: SshKeys, dir: &Path) -> Result<Guest> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (qmp_ours, qmp_theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut serial_ours = Vec::new();
        let mut inherit: Vec<OwnedFd> = Vec::new();
        let mut serial_fds = Vec::new();
        for _ in 0..spec.serial_ports {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
            serial_ours.push(ours);
            let fd: OwnedFd = theirs.into();
            serial_fds.push(std::os::fd::AsRawFd::as_raw_fd(&fd));
            inherit.push(fd);
        }
        let qmp_fd: OwnedFd = qmp_theirs.into();
        let fds = ChannelFds { qmp: Some(std::os::fd::AsRawFd::as_raw_fd(&qmp_fd)), serials: serial_fds };
        inherit.push(qmp_fd);

        let program = qemu_binary();
        let args = qemu_args(&spec, &fds);
        let note = "# fd=N: socket pairs the rig passes to QEMU (QMP, serial ports). To run this by hand,\n\
                    # replace `socket,id=X,fd=N` with `socket,id=X,path=/tmp/X.sock,server=on,wait=off`.\n";
        std::fs::write(
            dir.join("qemu.cmdline"),
            format!("{note}{}\n", shell_line(&program.display().to_string(), &args)),
        )?;
        let start = Instant::now();
        let mut qemu = QemuProcess::spawn(&program, &args, inherit, &dir.join("qemu.stderr"))?;
        std::fs::write(dir.join("qemu.pid"), format!("{}\n", qemu.pid()))?;
        tracing::info!(pid = qemu.pid(), dir = %dir.display(), cpu = spec.cpu.name, accel = spec.accel.as_str(), "qemu started");

        let mut consoles = Vec::new();
        for (i, s) in serial_ours.into_iter().enumerate() {
            s.set_nonblocking(true)?;
            consoles.push(Console::spawn(&format!("ttyS{i}"), UnixStream::from_std(s)?, dir, start)?);
        }
        qmp_ours.set_nonblocking(true)?;
        let qmp = match Qmp::connect(UnixStream::from_std(qmp_ours)?, &dir.join("qmp.log"), start, QMP_TIMEOUT).await {
            Ok(q) => q,
            Err(e) => {
                let status = qemu.wait(Duration::from_secs(2)).await;
                let stderr = qemu.stderr_tail(20);
                return Err(match status {
                    Some(st) => anyhow!(GuestError::QemuExited { status: st.into(), stderr }),
                    None => anyhow!("QEMU started but its monitor did not answer: {e}; QEMU's stderr:\n{stderr}"),
                })
                .context(format!("evidence in {}", dir.display()));
            }
        };
        let forwards_ssh = spec.nics.iter().flat_map(|n| &n.forwards).any(|f| f.guest_port == 22);
        let port = if forwards_ssh {
            let usernet = qmp.hmp("info usernet", QMP_TIMEOUT).await.context("reading the SSH port forward")?;
            crate::usernet::forwarded_port(&usernet, 22).ok_or_else(|| {
                anyhow!("QEMU set up no SSH forward to guest port 22; `info usernet` said:\n{usernet}")
            })?
        } else {
            0
        };
        qmp.execute(&qapi::qmp::cont {}, QMP_TIMEOUT).await.context("starting the vCPUs")?;
        let ssh_target = SshTarget {
            addr: ([127, 0, 0, 1], port).into(),
            user: profile.ssh_user.to_string(),
            client_key: keys.client_key,
            host_key: keys.host_key,
        };
        let link = GuestLink {
            qmp: Arc::new(qmp),
            consoles,
            profile,
            ssh_target,
            ssh: Arc::default(),
            boot: Arc::default(),
            start,
            stall_grace: STALL_GRACE,
            after_panic_silence: None,
            qemu_pid: qemu.pid(),
        };
        Ok(Guest { qemu, link, dir: dir.to_path_buf(), spec, boot_silence: None, went_silent: Default::default() })
    }

    /// Waits for the first boot to be ready: the ready marker on the console, then SSH. Ends
    /// early when the consoles go silent for the limit set with [`Guest::set_boot_silence`].
    pub async fn wait_ready(&self, deadline: Instant) -> Result<BootInfo, GuestError> {
        self.wait_boot_checked(0, None, self.link.start, deadline).await
    }

    /// How long every console may stay silent while [`Guest::wait_ready`] waits (no limit by
    /// default).
    pub fn set_boot_silence(&mut self, limit: Option<Duration>) {
        self.boot_silence = limit;
    }

    /// Sets how long the consoles may stay silent while the guest reboots after a panic (see
    /// [`GuestLink::after_panic_silence`]); links taken afterwards carry it.
    pub fn set_after_panic_silence(&mut self, limit: Option<Duration>) {
        self.link.after_panic_silence = limit;
    }

    /// [`GuestLink::wait_boot`], but a QEMU that exited is reported as such, with its stderr.
    pub async fn wait_boot_checked(
        &self,
        from: Cursor,
        previous: Option<&str>,
        since: Instant,
        deadline: Instant,
    ) -> Result<BootInfo, GuestError> {
        match self.link.wait_boot_within(from, previous, since, deadline, self.boot_silence).await {
            Ok(b) => Ok(b),
            Err(e) => {
                if matches!(e, GuestError::Silent { .. }) {
                    self.went_silent.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Err(self.exited_or(e).await)
            }
        }
    }

    /// Whether a boot wait of this guest ended because its consoles went silent.
    pub fn boot_went_silent(&self) -> bool {
        self.went_silent.load(std::sync::atomic::Ordering::SeqCst) && self.qemu_running()
    }

    async fn exited_or(&self, e: GuestError) -> GuestError {
        match self.qemu.exit_status() {
            Some(st) => {
                self.console().drain(Duration::from_secs(1)).await;
                GuestError::QemuExited { status: st, stderr: self.qemu.stderr_tail(20) }
            }
            None => e,
        }
    }

    /// A clone of the shareable part, for concurrent steps.
    pub fn link(&self) -> GuestLink {
        self.link.clone()
    }

    /// The machine it runs.
    pub fn spec(&self) -> &MachineSpec {
        &self.spec
    }

    /// The evidence directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// QEMU's process id (its process group id too).
    pub fn pid(&self) -> i32 {
        self.qemu.pid()
    }

    /// Whether QEMU is still running.
    pub fn qemu_running(&self) -> bool {
        self.qemu.exit_status().is_none()
    }

    /// If QEMU has exited: how it ended and the tail of its stderr.
    pub fn qemu_exit(&self) -> Option<(crate::qemu::QemuExit, String)> {
        self.qemu.exit_status().map(|st| (st, self.qemu.stderr_tail(20)))
    }

    /// Stops the guest: `quit` over QMP, then a kill if QEMU lingers. Logs are drained.
    pub async fn shutdown(mut self) {
        self.link.ssh.lock().unwrap().take();
        match self.link.qmp.execute(&qapi::qmp::quit {}, Duration::from_secs(2)).await {
            Ok(_) | Err(QmpError::Closed(_)) => {}
            Err(e) => tracing::warn!("quit: {e}"),
        }
        if self.qemu.wait(Duration::from_secs(5)).await.is_none() {
            self.qemu.kill().await;
        }
        for c in &self.link.consoles {
            c.drain(Duration::from_secs(1)).await;
        }
    }

    /// Kills QEMU at once (after a panic or a hang, when the evidence is taken).
    pub async fn kill(mut self) {
        self.link.ssh.lock().unwrap().take();
        self.qemu.kill().await;
        for c in &self.link.consoles {
            c.drain(Duration::from_secs(1)).await;
        }
    }
}
