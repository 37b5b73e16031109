//! A running guest: one value that owns the QEMU child, its consoles, the QMP monitor, the
//! SSH session and its evidence directory. Dropping it kills QEMU; nothing outlives it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::net::UnixStream;
use tokio::time::Instant;

use crate::console::{Console, ConsoleWaitError, Pattern};
use crate::journal::Cursor;
use crate::machine::{ChannelFds, MachineSpec, qemu_args, shell_line};
use crate::profile::Profile;
use crate::qemu::{QemuProcess, qemu_binary};
use crate::qmp::{Qmp, QmpError};
use crate::ssh::{Ssh, SshError, SshTarget};

/// How long QEMU gets to open its monitor.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the rig needs to reach a guest over SSH, besides the port QEMU picks.
#[derive(Debug, Clone)]
pub struct SshKeys {
    /// The client's private key.
    pub client_key: PathBuf,
    /// The guest's pinned host key.
    pub host_key: PathBuf,
}

/// One boot of the guest, as seen by the rig.
#[derive(Debug, Clone, serde::Serialize)]
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
    /// QEMU exited.
    #[error("QEMU exited ({status}); its stderr:\n{stderr}")]
    QemuExited {
        /// Exit status.
        status: String,
        /// The tail of QEMU's stderr.
        stderr: String,
    },
}

/// A running guest.
pub struct Guest {
    qemu: QemuProcess,
    qmp: Qmp,
    consoles: Vec<Console>,
    profile: Profile,
    ssh_target: SshTarget,
    ssh: Option<Ssh>,
    dir: PathBuf,
    start: Instant,
    spec: MachineSpec,
    boot: Option<BootInfo>,
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
        std::fs::write(dir.join("qemu.cmdline"), format!("{note}{}\n", shell_line(&program.display().to_string(), &args)))?;
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
                    Some(st) => anyhow!(GuestError::QemuExited { status: st.to_string(), stderr }),
                    None => anyhow!("QEMU started but its monitor did not answer: {e}; QEMU's stderr:\n{stderr}"),
                })
                .context(format!("evidence in {}", dir.display()));
            }
        };
        let forwards_ssh = spec.nics.iter().flat_map(|n| &n.forwards).any(|f| f.guest_port == 22);
        let port = if forwards_ssh {
            let usernet = qmp.hmp("info usernet", QMP_TIMEOUT).await.context("reading the SSH port forward")?;
            crate::usernet::forwarded_port(&usernet, 22)
                .ok_or_else(|| anyhow!("QEMU set up no SSH forward to guest port 22; `info usernet` said:\n{usernet}"))?
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
        Ok(Guest { qemu, qmp, consoles, profile, ssh_target, ssh: None, dir: dir.to_path_buf(), start, spec, boot: None })
    }

    /// Waits for the first boot to be ready: the ready marker on the console, then SSH.
    pub async fn wait_ready(&mut self, deadline: Instant) -> Result<BootInfo, GuestError> {
        self.wait_boot(0, None, self.start, deadline).await
    }

    /// Waits for a boot whose ready marker appears at or after `from` and whose nonce differs
    /// from `previous`: proof that the guest really rebooted. `since` is when the reboot began.
    pub async fn wait_boot(&mut self, from: Cursor, previous: Option<&str>, since: Instant, deadline: Instant) -> Result<BootInfo, GuestError> {
        if let Some(s) = self.ssh.take() {
            s.close().await;
        }
        let ready = Pattern::regex(self.profile.ready_pattern).expect("profile ready pattern is a valid regex");
        let mut from = from;
        let m = loop {
            let m = match self.console().wait_for(&ready, from, deadline).await {
                Ok(m) => m,
                Err(e) => return Err(self.exited_or(GuestError::NotReady(e)).await),
            };
            if previous != Some(m.capture.as_str()) {
                break m;
            }
            from = m.cursor + 1;
        };
        let ready_secs = (self.start + m.line.t).saturating_duration_since(since).as_secs_f64();
        let ssh = match Ssh::connect_until(&self.ssh_target, deadline).await {
            Ok(s) => s,
            Err(e) => return Err(self.exited_or(GuestError::Ssh(e)).await),
        };
        self.ssh = Some(ssh);
        let info = BootInfo { boot_id: m.capture, ready_secs, ssh_secs: since.elapsed().as_secs_f64() };
        tracing::info!(boot_id = %info.boot_id, ready = info.ready_secs, ssh = info.ssh_secs, "guest ready");
        self.boot = Some(info.clone());
        Ok(info)
    }

    async fn exited_or(&mut self, e: GuestError) -> GuestError {
        match self.qemu.try_exit() {
            Some(st) => {
                self.console().drain(Duration::from_secs(1)).await;
                GuestError::QemuExited { status: st.to_string(), stderr: self.qemu.stderr_tail(20) }
            }
            None => e,
        }
    }

    /// The SSH session of the current boot.
    pub fn ssh(&self) -> Result<&Ssh> {
        self.ssh.as_ref().ok_or_else(|| anyhow!("no SSH session: the guest is not ready"))
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

    /// The first serial console.
    pub fn console(&self) -> &Console {
        &self.consoles[0]
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

    /// The machine it runs.
    pub fn spec(&self) -> &MachineSpec {
        &self.spec
    }

    /// The evidence directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current boot, once ready.
    pub fn boot(&self) -> Option<&BootInfo> {
        self.boot.as_ref()
    }

    /// Where SSH reaches the guest.
    pub fn ssh_target(&self) -> &SshTarget {
        &self.ssh_target
    }

    /// QEMU's process id (its process group id too).
    pub fn pid(&self) -> i32 {
        self.qemu.pid()
    }

    /// When QEMU started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Stops the guest: `quit` over QMP, then a kill if QEMU lingers. Logs are drained.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.ssh.take() {
            s.close().await;
        }
        match self.qmp.execute(&qapi::qmp::quit {}, Duration::from_secs(2)).await {
            Ok(_) | Err(QmpError::Closed(_)) => {}
            Err(e) => tracing::warn!("quit: {e}"),
        }
        if self.qemu.wait(Duration::from_secs(5)).await.is_none() {
            self.qemu.kill().await;
        }
        for c in &self.consoles {
            c.drain(Duration::from_secs(1)).await;
        }
    }
}
