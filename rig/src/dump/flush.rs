//! Getting the rest of a panic onto the console. With pvpanic and `-action panic=pause`,
//! QEMU stops a Linux guest inside `panic()` before the kernel flushes its console: the
//! last lines ("Kernel Offset", "end Kernel panic") and anything printed in NMI context
//! (the whole NMI panic of a hang) are still in the log buffer. Once the dump is taken,
//! resuming the guest lets `panic()` flush them; then it spins, so it is paused again.

use std::time::Duration;

use tokio::time::Instant;

use super::host::QMP_CALL;
use crate::console::Pattern;
use crate::guest::GuestLink;

/// The line Linux prints last in `panic()`.
pub const END_OF_PANIC: &str = "---[ end Kernel panic";

/// Resumes a guest paused by a panic until the console shows [`END_OF_PANIC`] (or
/// `timeout` passes), pauses it again, and returns the console lines printed meanwhile.
/// Call it only after the dumps: the guest runs a little. Never fails; a QEMU that is gone
/// or a guest that prints nothing gives what arrived.
pub async fn flush_panic_console(link: &GuestLink, timeout: Duration) -> Vec<String> {
    let console = link.console();
    if console.tail(40).iter().any(|l| l.contains(END_OF_PANIC)) {
        // Already flushed (no pvpanic, or flushed before): nothing held back.
        return Vec::new();
    }
    let from = console.cursor();
    let qmp = link.qmp();
    if let Err(e) = qmp.execute(&qapi::qmp::cont {}, QMP_CALL).await {
        tracing::debug!("resuming the panicked guest: {e}");
        return Vec::new();
    }
    let end = Pattern::literal(END_OF_PANIC);
    let r = console.wait_for(&end, from, Instant::now() + timeout).await;
    if let Err(e) = qmp.execute(&qapi::qmp::stop {}, QMP_CALL).await {
        tracing::debug!("pausing the guest after the console flush: {e}");
    }
    if r.is_err() {
        tracing::debug!("no end-of-panic line within {timeout:?}");
    }
    console.lines_since(from).into_iter().map(|l| l.text).collect()
}
