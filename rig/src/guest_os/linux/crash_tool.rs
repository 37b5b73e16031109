//! The Linux images' dump tool: `crash` with the build's debug vmlinux reads a dump of the
//! panicked kernel (the panic task's stack, the end of the kernel log, the system).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use async_trait::async_trait;

use crate::guest_os::DumpTool;

/// How long `crash` may take on one dump.
const CRASH_TIMEOUT: Duration = Duration::from_secs(180);
/// What `crash` is asked: the panic task's stack, the end of the kernel log, the system.
const CRASH_COMMANDS: &str = "set scroll off\nsys\nbt\nlog | tail -40\nquit\n";

/// `crash` with a build's debug vmlinux.
pub struct Crash {
    /// The debug vmlinux.
    pub vmlinux_debug: PathBuf,
}

#[async_trait]
impl DumpTool for Crash {
    fn name(&self) -> &'static str {
        "crash"
    }

    fn command(&self, dump: &Path) -> String {
        format!("crash {} {}", self.vmlinux_debug.display(), dump.display())
    }

    async fn read(&self, dump: &Path) -> Result<String> {
        crash_read(dump, &self.vmlinux_debug).await
    }
}

/// Runs `crash -s` on `vmcore` with `vmlinux_debug` (`sys`, `bt`, the last 40 log lines) and
/// returns its output. Fails with a plain reason when `crash` or the symbols are missing.
pub async fn crash_read(vmcore: &Path, vmlinux_debug: &Path) -> Result<String> {
    if !crate::guest_os::linux::image::packages::on_path("crash") {
        bail!("no `crash` on this host (install it with `apt-get install crash`): dump triage without symbols");
    }
    if !vmlinux_debug.is_file() {
        bail!(
            "debug symbols missing: {} does not exist (the debug vmlinux comes from the 858 MB \
             linux-image-<release>-dbg package; fetch it explicitly with rig::guest_os::linux::image::debuginfo::fetch_debug_vmlinux)",
            vmlinux_debug.display()
        );
    }
    let script = vmcore.with_extension("crash-commands");
    std::fs::write(&script, CRASH_COMMANDS).with_context(|| format!("writing {}", script.display()))?;
    let child = tokio::process::Command::new("crash")
        .arg("-s")
        .arg(vmlinux_debug)
        .arg(vmcore)
        .arg("-i")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting crash")?;
    let out = tokio::time::timeout(CRASH_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("crash did not finish within {CRASH_TIMEOUT:?} on {}", vmcore.display()))?
        .context("running crash")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() && text.trim().is_empty() {
        bail!("crash failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn crash_without_symbols_says_so() {
        let tool = Crash { vmlinux_debug: "/nonexistent/vmlinux".into() };
        let e = tool.read(Path::new("/nonexistent/vmcore")).await.unwrap_err().to_string();
        assert!(e.contains("no `crash`") || e.contains("debug symbols missing"), "{e}");
        assert_eq!(tool.command(Path::new("/r/vmcore.kdump")), "crash /nonexistent/vmlinux /r/vmcore.kdump");
    }
}
