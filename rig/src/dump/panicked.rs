//! A guest panicked on purpose, to dump: a guest booted, panicked by its profile's panic
//! command and paused by pvpanic. The dump tests and `cargo xtask bench dumps` start from one
//! (of the default image).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::time::Instant;

use crate::guest::Guest;
use crate::guest_os::Target;
use crate::machine::{Accel, Shape, cpu};
use crate::qmp::QmpEvent;

/// The panicked guest's memory.
pub const MEMORY_MIB: u32 = 512;
/// Deadline from QEMU start to SSH.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Boots `image` (an EPYC model, [`MEMORY_MIB`], 2 vCPUs) in `dir`, panics it with its
/// profile's panic command and waits for `GUEST_PANICKED` (pvpanic pauses it). Returns the
/// guest and the event.
pub async fn panicked_guest(image: &dyn Target, accel: Accel, dir: &Path) -> Result<(Guest, QmpEvent)> {
    let spec = image.machine(&Shape::nested(MEMORY_MIB, 2), cpu::lookup("epyc").expect("epyc"), accel)?;
    let profile = image.profile();
    let guest = Guest::launch(spec, profile.clone(), image.keys(), dir).await?;
    guest.wait_ready(Instant::now() + BOOT_TIMEOUT).await?;
    let from = guest.qmp().event_cursor();
    // The session dies with the guest: the command never returns, so it runs on the side
    // while the event is awaited.
    let ssh = guest.ssh()?;
    let trigger = tokio::spawn(async move {
        let _ = ssh.exec(profile.panic_command, Duration::from_secs(5)).await;
    });
    let (_, ev) = guest
        .qmp()
        .wait_event("GUEST_PANICKED", from, Instant::now() + Duration::from_secs(30))
        .await
        .with_context(|| format!("waiting for the panic of `{}`", profile.panic_command))?;
    trigger.abort();
    Ok((guest, ev))
}
