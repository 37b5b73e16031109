//! Where a run came from, as written to `report.json`: the command, its times, the QEMU, the
//! kernels and the rig that ran it, and the host. Every field has a default, so reports
//! written before provenance was recorded still read (with empty values).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a run needs to be replayed and told apart from another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// The command line that started the run, one argument per entry.
    pub command: Vec<String>,
    /// The directory it was started in (where its relative paths lead).
    pub cwd: String,
    /// When the run started, RFC 3339 in UTC (`2026-12-03T14:07:57Z`).
    pub started: String,
    /// When the run ended, RFC 3339 in UTC; empty while it goes.
    pub ended: String,
    /// The first line of `qemu-system-x86_64 --version`.
    pub qemu_version: String,
    /// Image name → the release of its kernel, for the images whose release is known.
    pub kernel_releases: BTreeMap<String, String>,
    /// The rig's git commit (`unknown` outside a checkout).
    pub rig_commit: String,
    /// The host's name.
    pub host: String,
}

impl Provenance {
    /// The provenance of a merge of shards: the first shard's, spanning from the earliest start
    /// to the latest end, with every shard's kernel releases.
    pub fn absorb(&mut self, other: &Provenance) {
        if self.started.is_empty() || (!other.started.is_empty() && other.started < self.started) {
            self.started.clone_from(&other.started);
        }
        if other.ended > self.ended {
            self.ended.clone_from(&other.ended);
        }
        for (image, release) in &other.kernel_releases {
            self.kernel_releases.entry(image.clone()).or_insert_with(|| release.clone());
        }
    }

    /// How the kernels of `other` (a replay of this run) differ from this run's: one line per
    /// image that ran another kernel release, or whose release only one of the two knows.
    pub fn release_changes(&self, other: &Provenance) -> Vec<String> {
        let images: std::collections::BTreeSet<&String> =
            self.kernel_releases.keys().chain(other.kernel_releases.keys()).collect();
        let said = |r: Option<&String>| r.map_or("an unknown release".to_string(), |r| format!("kernel {r}"));
        images
            .into_iter()
            .filter(|i| self.kernel_releases.get(*i) != other.kernel_releases.get(*i))
            .map(|i| {
                format!(
                    "image {i} ran {} where the recorded run had {}: not the same build",
                    said(other.kernel_releases.get(i)),
                    said(self.kernel_releases.get(i))
                )
            })
            .collect()
    }

    /// The seconds from `started` to `ended`, when both are known.
    pub fn duration_secs(&self) -> Option<f64> {
        let (a, b) = (humantime::parse_rfc3339(&self.started).ok()?, humantime::parse_rfc3339(&self.ended).ok()?);
        Some(b.duration_since(a).ok()?.as_secs_f64())
    }
}

/// A time as RFC 3339 in UTC, to the second.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(started: &str, ended: &str, image: &str) -> Provenance {
        Provenance {
            started: started.into(),
            ended: ended.into(),
            kernel_releases: [(image.to_string(), "6.1.0-41-amd64".to_string())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_merge_spans_every_shard_and_keeps_every_release() {
        let mut p = at("2026-12-03T14:00:10Z", "2026-12-03T14:05:00Z", "linux");
        p.absorb(&at("2026-12-03T14:00:00Z", "2026-12-03T14:09:00Z", "linux-os7410-debug"));
        assert_eq!((p.started.as_str(), p.ended.as_str()), ("2026-12-03T14:00:00Z", "2026-12-03T14:09:00Z"));
        assert_eq!(p.kernel_releases.len(), 2);
        assert_eq!(p.duration_secs(), Some(540.0));
    }

    #[test]
    fn a_replay_on_other_kernels_is_told() {
        let run = at("", "", "linux");
        assert!(run.release_changes(&run.clone()).is_empty());
        let mut other = run.clone();
        other.kernel_releases.insert("linux".into(), "6.1.0-42-amd64".into());
        other.kernel_releases.insert("mine".into(), "6.9.0".into());
        assert_eq!(
            run.release_changes(&other),
            [
                "image linux ran kernel 6.1.0-42-amd64 where the recorded run had kernel 6.1.0-41-amd64: not the same build",
                "image mine ran kernel 6.9.0 where the recorded run had an unknown release: not the same build",
            ]
        );
    }

    #[test]
    fn an_empty_start_takes_the_other() {
        let mut p = Provenance::default();
        p.absorb(&at("2026-12-03T14:00:10Z", "", "linux"));
        assert_eq!(p.started, "2026-12-03T14:00:10Z");
        assert_eq!(p.duration_secs(), None);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_300_877);
        assert_eq!(rfc3339(t), "2026-12-03T12:27:57Z");
    }
}
