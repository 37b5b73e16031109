//! The QEMU child process: its own process group, killed with the rig on every exit path
//! (drop, Ctrl-C, and a parent-death signal for a rig killed outright).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::{Child, Command};

use super::exit::QemuExit;

/// A running QEMU. Dropping it kills QEMU's whole process group.
pub struct QemuProcess {
    child: Child,
    pid: i32,
    stderr_path: PathBuf,
}

impl QemuProcess {
    /// Spawns `program args`, with `inherit` file descriptors passed to QEMU (they are the
    /// QEMU ends of the channel socket pairs) and stderr written to `stderr_path`.
    pub fn spawn(program: &Path, args: &[String], inherit: Vec<OwnedFd>, stderr_path: &Path) -> Result<QemuProcess> {
        let stderr = File::create(stderr_path).with_context(|| format!("creating {}", stderr_path.display()))?;
        let raw: Vec<i32> = inherit.iter().map(|f| f.as_raw_fd()).collect();
        let parent = std::process::id() as i32;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stderr.try_clone()?))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &raw {
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                // Own process group: a terminal's Ctrl-C reaches the rig, which cleans up.
                if libc::setpgid(0, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // Dies with the rig even when the rig is SIGKILLed.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "{} not found: install QEMU (Debian: apt-get install qemu-system-x86 qemu-utils)",
                    program.display()
                )
            } else {
                anyhow::anyhow!("starting {}: {e}", program.display())
            }
        })?;
        drop(inherit);
        let pid = child.id().context("QEMU exited at once")? as i32;
        Ok(QemuProcess { child, pid, stderr_path: stderr_path.to_path_buf() })
    }

    /// QEMU's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// How QEMU ended, if it has exited (checked without reaping).
    pub fn exit_status(&self) -> Option<QemuExit> {
        // SAFETY: waitid with WNOWAIT only observes our own child; it does not reap it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(libc::P_PID, self.pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
        };
        if r != 0 {
            // Already reaped (or not our child any more): it has exited.
            return Some(QemuExit::Gone);
        }
        // SAFETY: si_pid/si_status are valid for a WEXITED report.
        let (pid, code) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return None;
        }
        Some(match info.si_code {
            libc::CLD_EXITED => QemuExit::Code(code),
            _ => QemuExit::Signal(code),
        })
    }

    /// Waits for QEMU to exit, up to `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait()).await.ok().and_then(|r| r.ok())
    }

    /// What QEMU printed on stderr, for error messages: see [`errors_first`].
    pub fn stderr_tail(&self, lines: usize) -> String {
        errors_first(&std::fs::read_to_string(&self.stderr_path).unwrap_or_default(), lines)
    }

    /// Kills QEMU's process group at once and reaps it.
    pub async fn kill(&mut self) {
        kill_group(self.pid);
        let _ = self.wait(Duration::from_secs(5)).await;
    }
}

/// QEMU's stderr for a message of at most `lines` lines: its own error lines first (a CPU model
/// under TCG puts a dozen `warning: TCG doesn't support requested feature` lines before the one
/// that says why QEMU stopped), then the last warnings, with a count of those left out.
pub fn errors_first(stderr: &str, lines: usize) -> String {
    let (warnings, errors): (Vec<&str>, Vec<&str>) =
        stderr.lines().filter(|l| !l.trim().is_empty()).partition(|l| l.contains(": warning: "));
    let mut out: Vec<String> = errors[errors.len().saturating_sub(lines)..].iter().map(|l| l.to_string()).collect();
    let mut room = lines.saturating_sub(out.len());
    if warnings.len() > room {
        room = room.saturating_sub(1); // the note's own line
    }
    let shown = &warnings[warnings.len().saturating_sub(room)..];
    if shown.len() < warnings.len() {
        out.push(format!("({} warning lines left out; all in qemu.stderr)", warnings.len() - shown.len()));
    }
    out.extend(shown.iter().map(|l| l.to_string()));
    out.join("\n")
}

/// SIGKILL to a process group (QEMU's pid is its group id).
pub fn kill_group(pgid: i32) {
    // SAFETY: plain syscall; a stale id at worst hits nothing (the group is ours until reaped).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            kill_group(self.pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::errors_first;

    #[test]
    fn qemu_errors_come_before_its_warnings() {
        let w = |i: u32| format!("qemu-system-x86_64: warning: TCG doesn't support requested feature: bit {i}");
        let mut text: Vec<String> = (0..18).map(w).collect();
        text.push("qemu: could not load kernel '/x/vmlinuz': No such file or directory".into());
        let out = errors_first(&text.join("\n"), 5);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "qemu: could not load kernel '/x/vmlinuz': No such file or directory");
        assert_eq!(lines[1], "(15 warning lines left out; all in qemu.stderr)");
        assert_eq!(lines[2..], [w(15), w(16), w(17)]);
        // Only warnings: the last ones, no note when all fit.
        assert_eq!(errors_first(&format!("{}\n\n{}", w(1), w(2)), 5), format!("{}\n{}", w(1), w(2)));
        assert_eq!(errors_first("", 5), "");
    }
}
