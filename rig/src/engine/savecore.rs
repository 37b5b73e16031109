//! After an illumos panic: let the kernel finish writing its dump and reboot, then have the
//! guest's savecore decompress it and mdb summarise it (`::status; $C; ::msgbuf`). The guest
//! stays up for the next iteration; the text goes next to the iteration's other evidence.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::coal::savecore::{newest_dump_command, triage_command};
use crate::guest::GuestLink;

/// How long mdb may take over a dump in the guest.
const MDB_TIMEOUT: Duration = Duration::from_secs(600);

/// Waits (up to `boot_timeout`) for the reboot after a panic and triages the newest saved dump.
/// Returns the mdb text, or `None` when the guest did not come back (then it is killed as
/// after any panic) or saved nothing.
pub async fn collect(link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
    // The host-side dump paused the guest; the kernel has its own dump still to write.
    let _ = link.qmp().execute(&qapi::qmp::cont {}, Duration::from_secs(10)).await;
    let previous = link.boot().map(|b| b.boot_id);
    let from = link.console().cursor();
    let since = Instant::now();
    if let Err(e) = link.wait_boot(from, previous.as_deref(), since, since + boot_timeout).await {
        tracing::warn!("no reboot after the panic: {e}");
        return None;
    }
    let newest = link.run(&newest_dump_command(), Duration::from_secs(30)).await.ok()?;
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
