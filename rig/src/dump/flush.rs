//! Getting the rest of a panic onto the console. With pvpanic and `-action panic=pause`,
//! QEMU stops a guest inside its panic before the kernel flushes its console: the last lines
//! (up to the OS's end-of-panic line) and anything printed in NMI context (the whole NMI panic
//! of a hang) are still in the log buffer. Once the dump is taken, resuming the guest lets
//! the panic flush them; then it spins, so it is paused again. Only an OS whose dialect names
//! an end-of-panic line is flushed.

use std::time::Duration;

use tokio::time::Instant;

use super::host::QMP_CALL;
use crate::console::Pattern;
use crate::crash::Dialect;
use crate::guest::GuestLink;

/// Resumes a guest paused by a panic until the console shows the end-of-panic line of the
/// guest's `dialect` (or `timeout` passes), pauses it again, and returns the console lines
/// printed meanwhile. Call it only after the dumps: the guest runs a little. Never fails; a
/// QEMU that is gone, a guest that prints nothing or an OS without an end-of-panic line gives
/// what arrived (nothing, for the last).
pub async fn flush_panic_console(link: &GuestLink, dialect: &dyn Dialect, timeout: Duration) -> Vec<String> {
    let Some(end_of_panic) = dialect.end_of_panic() else { return Vec::new() };
    let console = link.console();
    if console.tail(40).iter().any(|l| l.contains(end_of_panic)) {
        // Already flushed (no pvpanic, or flushed before): nothing held back.
        return Vec::new();
    }
    let from = console.cursor();
    let qmp = link.qmp();
    if let Err(e) = qmp.execute(&qapi::qmp::cont {}, QMP_CALL).await {
        tracing::debug!("resuming the panicked guest: {e}");
        return Vec::new();
    }
    let end = Pattern::literal(end_of_panic);
    let r = console.wait_for(&end, from, Instant::now() + timeout).await;
    if let Err(e) = qmp.execute(&qapi::qmp::stop {}, QMP_CALL).await {
        tracing::debug!("pausing the guest after the console flush: {e}");
    }
    if r.is_err() {
        tracing::debug!("no end-of-panic line within {timeout:?}");
    }
    console.lines_since(from).into_iter().map(|l| l.text).collect()
}
