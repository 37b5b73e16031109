//! Sharding a campaign across CI runners: `--shard K/N` runs a deterministic 1/N share of the
//! work (every case × CPU model × image × iteration, enumerated in a fixed order), so N runners
//! split a campaign and `cargo xtask report merge` joins their reports. Pure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shard K of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which (1..=count).
    pub index: u32,
    /// Of how many.
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s.split_once('/').ok_or_else(|| format!("--shard takes K/N (e.g. 2/4), not '{s}'"))?;
        let k: u32 = k.trim().parse().map_err(|_| format!("--shard {s}: K is not a number"))?;
        let n: u32 = n.trim().parse().map_err(|_| format!("--shard {s}: N is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!("--shard {s}: K must be between 1 and N, and N at least 1"));
        }
        Ok(Shard { index: k, count: n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the `n`-th work item (0-based, in campaign order) is this shard's.
    pub fn owns(&self, n: u64) -> bool {
        n % u64::from(self.count) == u64::from(self.index - 1)
    }
}

/// Splits the iterations of consecutive runs (`planned[i]` iterations each) between shards:
/// the 1-based iteration indices of each run that `shard` owns.
pub fn assign(planned: &[u32], shard: Option<Shard>) -> Vec<Vec<u32>> {
    let mut n = 0u64;
    planned
        .iter()
        .map(|&p| {
            (1..=p)
                .filter(|_| {
                    let mine = shard.is_none_or(|s| s.owns(n));
                    n += 1;
                    mine
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_reject() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["3/2", "0/2", "1/0", "x/2", "2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_campaign() {
        let planned = [5, 3, 7, 1];
        let total: u32 = planned.iter().sum();
        let shards: Vec<Vec<Vec<u32>>> =
            (1..=3).map(|k| assign(&planned, Some(Shard { index: k, count: 3 }))).collect();
        for run in 0..planned.len() {
            let mut all: Vec<u32> = shards.iter().flat_map(|s| s[run].clone()).collect();
            all.sort();
            assert_eq!(all, (1..=planned[run]).collect::<Vec<_>>(), "run {run}: together they cover it, once each");
        }
        let sizes: Vec<usize> = shards.iter().map(|s| s.iter().map(Vec::len).sum()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), total as usize);
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        assert_eq!(assign(&planned, None)[2], (1..=7).collect::<Vec<_>>());
    }
}
