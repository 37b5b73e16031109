//! Host-key pinning: the guest must present exactly the key recorded when its image was built.

use std::path::Path;
use std::sync::{Arc, Mutex};

use russh::client::{self, DisconnectReason};
use russh::keys::{PublicKey, PublicKeyOrCertificate, parse_public_key_base64};

use super::SshError;

/// Parses one OpenSSH public-key line (`ssh-ed25519 AAAA... [comment]`).
pub fn parse_pinned_key(line: &str) -> Result<PublicKey, SshError> {
    let bad = |why: &str| SshError::Io(format!("pinned host key {line:?}: {why}"));
    let mut fields = line.split_whitespace();
    let (Some(algo), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(bad("expected `<algorithm> <base64> [comment]`"));
    };
    let key = parse_public_key_base64(blob).map_err(|e| bad(&e.to_string()))?;
    if key.algorithm().as_str() != algo {
        return Err(bad(&format!("the key is {}, not {algo}", key.algorithm().as_str())));
    }
    Ok(key)
}

/// Reads the pinned key file: its first non-blank, non-comment line.
pub fn load_pinned_key(path: &Path) -> Result<PublicKey, SshError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SshError::Io(format!("reading pinned host key {}: {e}", path.display())))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| SshError::Io(format!("{} holds no key", path.display())))?;
    parse_pinned_key(line)
}

/// One key as an OpenSSH line without comment, for messages.
pub fn key_line(key: &PublicKey) -> String {
    let mut k = key.clone();
    k.set_comment("");
    k.to_openssh().unwrap_or_else(|e| format!("<unencodable key: {e}>"))
}

/// What the handler saw, shared with the [`super::Ssh`] that owns the session.
#[derive(Debug, Default)]
pub struct Seen {
    /// The host key the server offered, when it did not match.
    pub mismatch: Option<String>,
    /// Why the session ended, once it has.
    pub disconnect: Option<String>,
    /// The key accepted on first use (no key was pinned yet).
    pub first_use: Option<PublicKey>,
}

/// The russh client handler: accepts only the pinned host key (or, with none pinned yet, the
/// first key offered, which the caller then pins), records disconnects.
pub struct Pinned {
    pub expected: Option<PublicKey>,
    pub seen: Arc<Mutex<Seen>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let ok = match (offered, &self.expected) {
            (PublicKeyOrCertificate::PublicKey { key, .. }, Some(expected)) => key.key_data() == expected.key_data(),
            (PublicKeyOrCertificate::PublicKey { key, .. }, None) => {
                lock(&self.seen).first_use = Some(PublicKey::clone(key));
                true
            }
            (PublicKeyOrCertificate::Certificate(_), _) => false,
        };
        if !ok {
            let got = match offered {
                PublicKeyOrCertificate::PublicKey { key, .. } => key_line(key),
                PublicKeyOrCertificate::Certificate(c) => {
                    format!("a {} certificate", c.algorithm().as_str())
                }
            };
            lock(&self.seen).mismatch = Some(got);
        }
        Ok(ok)
    }

    async fn disconnected(&mut self, reason: DisconnectReason<Self::Error>) -> Result<(), Self::Error> {
        let why = match &reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                format!("server disconnected: {}", info.message)
            }
            DisconnectReason::Error(e) => e.to_string(),
        };
        tracing::debug!(reason = %why, "ssh session ended");
        lock(&self.seen).disconnect = Some(why);
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(e) => Err(e),
        }
    }
}

/// Locks the shared state; a poisoned lock still holds usable data.
pub fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ root@guest";

    #[test]
    fn parses_an_openssh_line() {
        let k = parse_pinned_key(LINE).unwrap();
        assert_eq!(key_line(&k), LINE.trim_end_matches(" root@guest"));
    }

    #[test]
    fn comment_does_not_matter() {
        let a = parse_pinned_key(LINE).unwrap();
        let b = parse_pinned_key(LINE.trim_end_matches(" root@guest")).unwrap();
        assert_eq!(a.key_data(), b.key_data());
    }

    #[test]
    fn rejects_garbage_and_wrong_algorithm() {
        assert!(parse_pinned_key("").is_err());
        assert!(parse_pinned_key("ssh-ed25519").is_err());
        assert!(parse_pinned_key("ssh-ed25519 not-base64!").is_err());
        assert!(parse_pinned_key(&LINE.replace("ssh-ed25519", "ssh-rsa")).is_err());
    }
}
