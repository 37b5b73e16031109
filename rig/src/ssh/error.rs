//! Typed SSH outcomes, and how russh's errors map onto them.

use std::time::Duration;

/// Why an SSH operation did not complete; callers branch on the variant.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SshError {
    /// A deadline passed (handshake, exec, download, or waiting for the guest).
    #[error("{what}: no answer after {after:.1?}")]
    Timeout { what: String, after: Duration },
    /// The connection dropped: the guest rebooted, panicked, froze or died.
    #[error("ssh connection dropped: {0}")]
    Disconnected(String),
    /// The guest presented another host key than the pinned one.
    #[error("guest host key mismatch: expected {expected}, got {got}")]
    HostKeyMismatch { expected: String, got: String },
    /// The guest refused our key, or the key could not be loaded.
    #[error("ssh authentication failed: {0}")]
    Auth(String),
    /// A local I/O problem (connect refused, writing a downloaded file, ...).
    #[error("ssh i/o error: {0}")]
    Io(String),
    /// Anything else the protocol layer reported.
    #[error("ssh protocol error: {0}")]
    Protocol(String),
}

/// Maps a russh error to its typed outcome (host-key mismatches are detected by the
/// handler, not here: russh only says `UnknownKey`).
pub fn from_russh(e: russh::Error) -> SshError {
    use russh::Error as E;
    use std::io::ErrorKind as K;
    match e {
        E::KeepaliveTimeout => SshError::Disconnected("no answer to keepalives".into()),
        E::InactivityTimeout => SshError::Disconnected("inactivity timeout".into()),
        E::Disconnect | E::HUP | E::SendError | E::RecvError => SshError::Disconnected(e.to_string()),
        E::IO(io) => match io.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                SshError::Disconnected(io.to_string())
            }
            _ => SshError::Io(io.to_string()),
        },
        E::NotAuthenticated | E::NoAuthMethod | E::UnsupportedAuthMethod | E::Keys(_) => SshError::Auth(e.to_string()),
        other => SshError::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_connections_are_disconnected() {
        for e in [
            russh::Error::KeepaliveTimeout,
            russh::Error::HUP,
            russh::Error::Disconnect,
            russh::Error::SendError,
            russh::Error::IO(std::io::ErrorKind::ConnectionReset.into()),
            russh::Error::IO(std::io::ErrorKind::UnexpectedEof.into()),
        ] {
            assert!(matches!(from_russh(e), SshError::Disconnected(_)));
        }
    }

    #[test]
    fn other_errors_keep_their_kind() {
        let refused = russh::Error::IO(std::io::ErrorKind::ConnectionRefused.into());
        assert!(matches!(from_russh(refused), SshError::Io(_)));
        assert!(matches!(from_russh(russh::Error::NotAuthenticated), SshError::Auth(_)));
        assert!(matches!(from_russh(russh::Error::Kex), SshError::Protocol(_)));
    }

    #[test]
    fn timeout_message_says_what_and_how_long() {
        let e = SshError::Timeout { what: "ssh handshake".into(), after: Duration::from_secs(2) };
        assert_eq!(e.to_string(), "ssh handshake: no answer after 2.0s");
    }
}
