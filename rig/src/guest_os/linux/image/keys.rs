//! The SSH client key of an image: a fresh ed25519 key per build, in OpenSSH format.
//!
//! (The guest's host key is made by dropbearkey inside build.sh; its public line is pinned.)

use std::io::Read;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use russh::keys::ssh_key::{LineEnding, PrivateKey, private::Ed25519Keypair};

/// Writes a new ed25519 key pair: `path` (private, mode 0600) and `path.pub` (one line);
/// returns the public line.
pub fn generate_client_key(path: &Path, comment: &str) -> Result<String> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)).context("reading /dev/urandom")?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    let private = key.to_openssh(LineEnding::LF).context("encoding the client key")?;
    std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(private.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    let public = format!("{}\n", key.public_key().to_openssh().context("encoding the public key")?);
    std::fs::write(path.with_extension("pub"), &public).with_context(|| format!("writing {}.pub", path.display()))?;
    Ok(public)
}
