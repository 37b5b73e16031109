//! A guest panicked on purpose, to dump: the default guest booted, panicked with sysrq-c and
//! paused by pvpanic. The dump tests and `cargo xtask bench dumps` start from one.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::time::Instant;

use crate::guest::Guest;
use crate::image::LinuxImage;
use crate::machine::{Accel, Shape, cpu};
use crate::qmp::QmpEvent;

/// The panicked guest's memory.
pub const MEMORY_MIB: u32 = 512;
/// Deadline from QEMU start to SSH.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Boots the default guest (an EPYC model, [`MEMORY_MIB`], 2 vCPUs) in `dir`, panics it with
/// sysrq-c and waits for `GUEST_PANICKED` (pvpanic pauses it). Returns the guest and the event.
pub async fn panicked_guest(image: &LinuxImage, accel: Accel, dir: &Path) -> Result<(Guest, QmpEvent)> {
    let spec = image.machine(cpu::lookup("epyc").expect("epyc"), accel, &Shape::nested(MEMORY_MIB, 2));
    let profile =
        crate::guest_os::profile_for(&image.name).with_context(|| format!("{}: no guest profile", image.name))?;
    let guest = Guest::launch(spec, profile.clone(), image.ssh_keys(), dir).await?;
    guest.wait_ready(Instant::now() + BOOT_TIMEOUT).await?;
    let from = guest.qmp().event_cursor();
    // The session dies with the guest: the command never returns, so it runs on the side
    // while the event is awaited.
    let ssh = guest.ssh()?;
    let trigger = tokio::spawn(async move {
        let _ = ssh.exec("echo c > /proc/sysrq-trigger", Duration::from_secs(5)).await;
    });
    let (_, ev) = guest
        .qmp()
        .wait_event("GUEST_PANICKED", from, Instant::now() + Duration::from_secs(30))
        .await
        .context("waiting for the sysrq-c panic")?;
    trigger.abort();
    Ok((guest, ev))
}
