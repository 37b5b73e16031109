//! Pruning old run directories (`cargo xtask runs prune`): of the directories the rig made
//! under a runs root (named `<UTC time>-<label>`), remove those beyond the newest N, or older
//! than an age; never the newest one, never one whose run still goes (its `run.lock` is held),
//! never anything else in the root.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Which runs to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep the newest N (at least 1).
    Newest(usize),
    /// Keep those younger than this (and the newest, whatever its age).
    Younger(Duration),
}

/// A run directory under the runs root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The directory.
    pub dir: PathBuf,
    /// When it was made, from its name.
    pub made: SystemTime,
}

/// What a prune did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// The run directories removed, with their bytes.
    pub removed: Vec<(PathBuf, u64)>,
    /// Old enough to go, but their run still goes.
    pub in_progress: Vec<PathBuf>,
    /// Could not be removed, and why.
    pub failed: Vec<(PathBuf, String)>,
}

/// When a run directory named `name` (`2026-12-04T032308-rig`, as [`super::create`] names
/// them) was made; `None` for a name the rig does not give.
pub fn made(name: &str) -> Option<SystemTime> {
    let stamp = name.get(..17)?;
    let b = stamp.as_bytes();
    if b[10] != b'T' || name.as_bytes().get(17) != Some(&b'-') {
        return None;
    }
    let (date, time) = stamp.split_at(11);
    let rfc = format!("{date}{}:{}:{}Z", &time[..2], &time[2..4], &time[4..6]);
    humantime::parse_rfc3339(&rfc).ok()
}

/// The run directories under `root`, newest first (symbolic links and other entries are
/// not runs).
pub fn list(root: &Path) -> std::io::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for e in std::fs::read_dir(root)? {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        if let Some(made) = e.file_name().to_str().and_then(made) {
            runs.push(Run { dir: e.path(), made });
        }
    }
    runs.sort_by(|a, b| b.made.cmp(&a.made).then_with(|| b.dir.cmp(&a.dir)));
    Ok(runs)
}

/// The runs of `runs` (newest first) that `keep` lets go, as of `now`: never the newest.
pub fn chosen(runs: &[Run], keep: Keep, now: SystemTime) -> Vec<&Run> {
    match keep {
        Keep::Newest(n) => runs.iter().skip(n.max(1)).collect(),
        Keep::Younger(age) => {
            runs.iter().skip(1).filter(|r| now.duration_since(r.made).is_ok_and(|a| a > age)).collect()
        }
    }
}

/// Removes the run directories under `root` that `keep` lets go, except those in progress.
pub fn prune(root: &Path, keep: Keep) -> std::io::Result<Pruned> {
    let runs = list(root)?;
    let mut done = Pruned::default();
    for r in chosen(&runs, keep, SystemTime::now()) {
        if super::lock::in_progress(&r.dir) {
            done.in_progress.push(r.dir.clone());
            continue;
        }
        let bytes = size(&r.dir);
        match std::fs::remove_dir_all(&r.dir) {
            Ok(()) => done.removed.push((r.dir.clone(), bytes)),
            Err(e) => done.failed.push((r.dir.clone(), e.to_string())),
        }
    }
    Ok(done)
}

/// The bytes of the files under `dir` (links not followed).
fn size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rigs_names_are_runs_and_they_tell_their_time() {
        let t = made("2026-12-04T032308-rig").unwrap();
        assert_eq!(humantime::format_rfc3339_seconds(t).to_string(), "2026-12-04T03:23:08Z");
        assert!(made("2026-12-04T032308-rig-2").is_some());
        for not in ["notes", "2026-12-04T03:23:08-rig", "2026-12-04T032308", "2026-12-04X032308-rig", "é"] {
            assert_eq!(made(not), None, "{not}");
        }
    }

    fn runs(ages_h: &[u64], now: SystemTime) -> Vec<Run> {
        ages_h
            .iter()
            .map(|h| Run { dir: PathBuf::from(format!("r{h}")), made: now - Duration::from_secs(h * 3600) })
            .collect()
    }

    #[test]
    fn the_newest_always_stays() {
        let now = SystemTime::now();
        let r = runs(&[1, 5, 30], now);
        let names = |c: Vec<&Run>| c.iter().map(|r| r.dir.display().to_string()).collect::<Vec<_>>();
        assert_eq!(names(chosen(&r, Keep::Newest(2), now)), ["r30"]);
        assert_eq!(names(chosen(&r, Keep::Newest(0), now)), ["r5", "r30"]);
        assert_eq!(names(chosen(&r, Keep::Younger(Duration::from_secs(4 * 3600)), now)), ["r5", "r30"]);
        let old = runs(&[50, 60], now);
        assert_eq!(names(chosen(&old, Keep::Younger(Duration::from_secs(3600)), now)), ["r60"]);
    }
}
