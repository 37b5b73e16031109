//! The run's ledger of kept dumps. Per build and crash signature only the first few dumps are
//! kept (`--dumps first:N`, 2 by default): a long run that panics the same way in every
//! iteration keeps a few dumps, not one per iteration. A later dump of a signature whose
//! quota is full is not taken when the signature is known before dumping (a panic read off
//! the console), or deleted once it is known (a panic QEMU reported before the console had
//! it); either way its record names the dumps kept instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::host::DumpInfo;
use super::options::DumpOptions;
use crate::guest_os::DumpTool;

/// What counts as the same crash when dumps are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DumpKey {
    /// The build under test: the image's name (a comparison runs several).
    pub build: String,
    /// The crash signature: a panic's title, or `hang during <step>` for a hang.
    pub signature: String,
}

/// The dumps kept, or being taken, so far in a run, per [`DumpKey`]. Shared by the run's
/// workers: a place is claimed before a dump starts, so parallel guests hitting the same
/// crash cannot both take the last one.
#[derive(Debug, Default)]
pub struct DumpLedger {
    kept: Mutex<HashMap<DumpKey, Vec<PathBuf>>>,
}

impl DumpLedger {
    /// Claims a place for the dump at `path` under `key`: None when fewer than `limit` dumps
    /// are kept under it (`limit` None: no limit), else why not, naming the kept dumps.
    pub fn claim(&self, key: &DumpKey, limit: Option<u32>, path: &Path) -> Option<String> {
        let mut kept = self.kept.lock().unwrap();
        let paths = kept.entry(key.clone()).or_default();
        if paths.iter().any(|p| p == path) {
            return None;
        }
        match limit {
            Some(n) if paths.len() >= n as usize => Some(format!(
                "{} of '{}' on {} already kept: {} (`--dumps all` keeps every one)",
                if paths.len() == 1 { "1 dump".to_string() } else { format!("{} dumps", paths.len()) },
                key.signature,
                key.build,
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )),
            _ => {
                paths.push(path.to_path_buf());
                None
            }
        }
    }

    /// Gives back the place of the dump at `path` (it failed, or was not kept): a later dump
    /// of the same crash may take it.
    pub fn release(&self, key: &DumpKey, path: &Path) {
        if let Some(paths) = self.kept.lock().unwrap().get_mut(key) {
            paths.retain(|p| p != path);
        }
    }

    /// The dumps kept under `key`, oldest first.
    pub fn kept(&self, key: &DumpKey) -> Vec<PathBuf> {
        self.kept.lock().unwrap().get(key).cloned().unwrap_or_default()
    }
}

/// The ledger as one iteration uses it: the run's options and ledger, and the build it runs.
#[derive(Debug, Clone, Copy)]
pub struct DumpScope<'a> {
    /// What to dump, and how many per signature.
    pub opts: &'a DumpOptions,
    /// The run's ledger.
    pub ledger: &'a DumpLedger,
    /// The build (image) the iteration runs.
    pub build: &'a str,
    /// The build's dump tool, when one is at hand: the triage says what it reads in each dump.
    pub tool: Option<&'a dyn DumpTool>,
}

impl DumpScope<'_> {
    fn key(&self, signature: &str) -> DumpKey {
        DumpKey { build: self.build.to_string(), signature: signature.to_string() }
    }

    /// Before a dump of `signature` to `path`: None to take it, or why not.
    pub fn claim(&self, signature: &str, path: &Path) -> Option<String> {
        self.ledger.claim(&self.key(signature), self.opts.per_signature, path)
    }

    /// Gives back the place claimed for `path` under `signature` (no dump was taken there).
    pub fn release(&self, signature: &str, path: &Path) {
        self.ledger.release(&self.key(signature), path);
    }

    /// After a dump, once its signature is known (`claimed`: the signature its place was
    /// claimed under before dumping, if any). A dump that failed or was not kept gives its
    /// place back; a complete one is kept under `signature`, or deleted when that signature
    /// has its dumps already, with the reason in [`DumpInfo::skipped`].
    pub fn settle(&self, dump: &mut DumpInfo, claimed: Option<&str>, signature: &str) {
        if let Some(c) = claimed
            && (!dump.ok() || c != signature)
        {
            self.release(c, &dump.path);
        }
        if !dump.ok() || claimed == Some(signature) {
            return;
        }
        if let Some(why) = self.claim(signature, &dump.path) {
            dump.discard(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::DumpFormat;

    fn key(build: &str, signature: &str) -> DumpKey {
        DumpKey { build: build.into(), signature: signature.into() }
    }

    #[test]
    fn keeps_the_first_n_per_signature_and_names_them() {
        let l = DumpLedger::default();
        let bug = key("linux", "kernel BUG in f");
        assert_eq!(l.claim(&bug, Some(2), Path::new("/r/1/vmcore.kdump")), None);
        assert_eq!(l.claim(&bug, Some(2), Path::new("/r/2/vmcore.kdump")), None);
        let why = l.claim(&bug, Some(2), Path::new("/r/3/vmcore.kdump")).expect("the third is refused");
        assert_eq!(
            why,
            "2 dumps of 'kernel BUG in f' on linux already kept: /r/1/vmcore.kdump, /r/2/vmcore.kdump \
             (`--dumps all` keeps every one)"
        );
        assert_eq!(l.claim(&bug, Some(2), Path::new("/r/1/vmcore.kdump")), None, "a claim held is held");
        assert_eq!(l.claim(&key("linux", "other"), Some(2), Path::new("/r/3/vmcore.kdump")), None, "per signature");
        let one = l.claim(&key("linux", "other"), Some(1), Path::new("/r/4/vmcore.kdump")).unwrap();
        assert!(one.starts_with("1 dump of 'other' on linux already kept: /r/3/vmcore.kdump"), "{one}");
    }

    #[test]
    fn builds_count_apart() {
        let l = DumpLedger::default();
        for n in 1..=2 {
            assert_eq!(l.claim(&key("linux-debug", "t"), Some(2), Path::new(&format!("/d/{n}"))), None);
        }
        assert!(l.claim(&key("linux-debug", "t"), Some(2), Path::new("/d/3")).is_some());
        assert_eq!(l.claim(&key("linux-fixed", "t"), Some(2), Path::new("/f/1")), None, "another build");
    }

    #[test]
    fn no_limit_keeps_every_one_and_a_release_frees_a_place() {
        let l = DumpLedger::default();
        let k = key("linux", "t");
        for n in 0..50 {
            assert_eq!(l.claim(&k, None, Path::new(&format!("/r/{n}"))), None);
        }
        assert_eq!(l.kept(&k).len(), 50);
        let l = DumpLedger::default();
        l.claim(&k, Some(1), Path::new("/r/failed"));
        l.release(&k, Path::new("/r/failed"));
        assert_eq!(l.claim(&k, Some(1), Path::new("/r/next")), None);
        assert_eq!(l.kept(&k), [PathBuf::from("/r/next")]);
    }

    fn written(dir: &Path, n: u32) -> DumpInfo {
        let path = dir.join(format!("{n}.kdump"));
        std::fs::write(&path, b"dump").unwrap();
        let format = DumpFormat::KdumpZlib;
        DumpInfo { path, format, bytes: 4, secs: 0.1, start_latency_ms: 1.0, error: None, skipped: None }
    }

    #[test]
    fn settling_keeps_moves_or_deletes() {
        let dir = std::env::temp_dir().join(format!("rig-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (opts, ledger) = (DumpOptions::default(), DumpLedger::default());
        let scope = DumpScope { opts: &opts, ledger: &ledger, build: "linux", tool: None };

        // Known before: claimed, kept.
        let mut a = written(&dir, 1);
        assert_eq!(scope.claim("t", &a.path), None);
        scope.settle(&mut a, Some("t"), "t");
        // Unknown before (only GUEST_PANICKED): kept once known.
        let mut b = written(&dir, 2);
        scope.settle(&mut b, None, "t");
        assert!(a.ok() && b.ok() && a.path.exists() && b.path.exists());
        // The third of the signature: deleted once written, saying where the kept ones are.
        let mut c = written(&dir, 3);
        scope.settle(&mut c, None, "t");
        assert!(!c.ok() && !c.path.exists(), "{c:?}");
        let why = c.skipped.as_deref().unwrap();
        assert!(why.starts_with("deleted once written") && why.contains(&a.path.display().to_string()), "{why}");
        // Claimed under a first reading that the full report changed: moved to the final one.
        let mut d = written(&dir, 4);
        assert_eq!(scope.claim("first reading", &d.path), None);
        scope.settle(&mut d, Some("first reading"), "final");
        assert!(d.ok());
        assert!(ledger.kept(&scope.key("first reading")).is_empty());
        assert_eq!(ledger.kept(&scope.key("final")), [d.path.clone()]);
        // A failed dump gives its place back.
        let mut e = written(&dir, 5);
        assert_eq!(scope.claim("f", &e.path), None);
        e.error = Some("QEMU exited during the dump".into());
        scope.settle(&mut e, Some("f"), "f");
        assert!(ledger.kept(&scope.key("f")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
