//! What the guest does after a panic, when it dumps itself:
//! - illumos writes its dump to the dump device and reboots; savecore then decompresses it and
//!   mdb summarises it (`::status; $C; ::msgbuf`) in the guest, which stays up;
//! - Linux with kdump jumps into a capture kernel whose `/proc/vmcore` is the panicked
//!   kernel's memory; the rig copies it out over SSH.
//!
//! The results go next to the iteration's other evidence.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::coal::savecore::{SAVECORE_WAIT_SECS, newest_dump_command, triage_command};
use crate::guest::GuestLink;

/// How long mdb may take over a dump in the guest.
const MDB_TIMEOUT: Duration = Duration::from_secs(600);

/// How long copying `/proc/vmcore` may take (about 12 MiB/s over SSH).
const VMCORE_TIMEOUT: Duration = Duration::from_secs(900);

/// What a guest does after a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPanic {
    /// Nothing the rig waits for: the host-side dump is the evidence; the guest is killed.
    Kill,
    /// illumos: writes its dump and reboots; savecore and mdb triage it in the guest.
    Savecore,
    /// Linux with kdump: boots a capture kernel; the rig copies `/proc/vmcore` out.
    Kdump,
}

/// Lets the panicked guest go on (the host-side dump paused it) and waits for its next boot,
/// whose nonce proves it happened.
async fn next_boot(link: &GuestLink, boot_timeout: Duration) -> bool {
    let _ = link.qmp().execute(&qapi::qmp::cont {}, Duration::from_secs(10)).await;
    let previous = link.boot().map(|b| b.boot_id);
    let from = link.console().cursor();
    let since = Instant::now();
    match link.wait_boot(from, previous.as_deref(), since, since + boot_timeout).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("no new boot after the panic: {e}");
            false
        }
    }
}

/// The capture kernel's `/proc/vmcore`, copied to `dir/vmcore.guest` (an ELF core). Returns a
/// line for the triage text.
pub async fn kdump(link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
    if !next_boot(link, boot_timeout).await {
        return Some("kdump: the capture kernel did not come up".into());
    }
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join("vmcore.guest");
    let began = Instant::now();
    let line = match link.ssh().ok()?.download("/proc/vmcore", &path, VMCORE_TIMEOUT).await {
        Ok(bytes) => format!(
            "kdump: {} ({} MiB, copied in {:.1}s from the capture kernel's /proc/vmcore)",
            path.display(),
            bytes >> 20,
            began.elapsed().as_secs_f64()
        ),
        Err(e) => format!("kdump: copying /proc/vmcore failed: {e}"),
    };
    Some(line)
}

/// Waits (up to `boot_timeout`) for the reboot after a panic and triages the newest saved dump.
/// Returns the mdb text, or `None` when the guest did not come back (then it is killed as
/// after any panic) or saved nothing.
pub async fn savecore(link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
    if !next_boot(link, boot_timeout).await {
        return None;
    }
    // The boot-time savecore may still be writing the dump: the command waits for it.
    let wait = Duration::from_secs(u64::from(SAVECORE_WAIT_SECS) + 30);
    let newest = link.run(&newest_dump_command(), wait).await.ok()?;
    let newest = newest.trim();
    let Some(cmd) = triage_command(newest) else {
        tracing::warn!("the guest rebooted but savecore saved no dump in {}", crate::coal::savecore::CRASH_DIR);
        return None;
    };
    let out = link.ssh().ok()?.exec(&cmd, MDB_TIMEOUT).await.ok()?;
    let text = format!("savecore + mdb of {newest} in the guest:\n{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join("savecore-mdb.txt"), &text);
    Some(text)
}
