//! A run's `run.lock`: held (a shared `flock`) by every process working in a run directory,
//! so a prune can tell a run that still goes from one that ended or was killed (the kernel
//! drops a dead process's locks).

use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock file's name in a run directory.
pub const RUN_LOCK: &str = "run.lock";

/// A held run lock; released on drop.
#[derive(Debug)]
pub struct Held {
    _file: std::fs::File,
}

/// Holds `run_dir`'s run lock (shared: the rig's command and its campaigns may each hold it).
pub fn hold(run_dir: &Path) -> std::io::Result<Held> {
    let f = std::fs::File::options().create(true).truncate(false).write(true).open(run_dir.join(RUN_LOCK))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Held { _file: f })
}

/// Whether a process holds a run lock in `dir` or in a directory below it (a reproduction's
/// or a bisection's runs go in subdirectories).
pub fn in_progress(dir: &Path) -> bool {
    let held = std::fs::File::open(dir.join(RUN_LOCK)).is_ok_and(|f| {
        // SAFETY: flock on a file descriptor we own; an exclusive lock we get is dropped with it.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
    });
    held || std::fs::read_dir(dir)
        .is_ok_and(|rd| rd.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && in_progress(&e.path())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_marks_the_run_and_its_parents_in_progress() {
        let d = std::env::temp_dir().join(format!("rig-run-lock-{}", std::process::id()));
        let inner = d.join("probe-1");
        std::fs::create_dir_all(&inner).unwrap();
        assert!(!in_progress(&d));
        let held = hold(&inner).unwrap();
        let again = hold(&inner).unwrap();
        assert!(in_progress(&d) && in_progress(&inner));
        drop((held, again));
        assert!(!in_progress(&d), "released with its holders");
        let _ = std::fs::remove_dir_all(&d);
    }
}
