//! SSH to the guest through russh: connect under a deadline, exec, download.
//!
//! A session pins the guest's host key, sends keepalives every second so a frozen or
//! panicked guest is noticed within seconds, and reports a dropped connection as
//! [`SshError::Disconnected`], which callers branch on (the guest rebooted or died).

mod error;
mod hostkey;
mod session;

use std::path::PathBuf;

pub use error::SshError;
pub use hostkey::parse_pinned_key;
pub use session::{Ssh, shell_quote};

/// What the rig needs to reach a guest over SSH, besides the port QEMU picks.
#[derive(Debug, Clone)]
pub struct SshKeys {
    /// The client's private key.
    pub client_key: PathBuf,
    /// The guest's pinned host key.
    pub host_key: PathBuf,
}

/// Where and as whom to log in.
#[derive(Debug, Clone)]
pub struct SshTarget {
    /// The forwarded SSH port on the host (QEMU `hostfwd`).
    pub addr: std::net::SocketAddr,
    pub user: String,
    /// Private key, OpenSSH format.
    pub client_key: PathBuf,
    /// The pinned host public key: a file with one OpenSSH line (`ssh-ed25519 AAAA... comment`).
    /// When the file does not exist yet, the first key the guest offers is trusted and written
    /// there (for images whose host key is made at their first boot, like coal's).
    pub host_key: PathBuf,
}

/// What a command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit status; `None` when the channel closed without one (e.g. killed by a signal).
    pub status: Option<u32>,
}

impl ExecOutput {
    /// Stdout as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}
