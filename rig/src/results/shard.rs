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

/// The iterations of one run a shard owns: every `step`-th from `first` up to `planned`
/// (1-based). Arithmetic: nothing is held per iteration, whatever the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    first: u32,
    step: u32,
    planned: u32,
}

impl Assigned {
    /// Every iteration of a run of `planned`.
    pub fn all(planned: u32) -> Assigned {
        Assigned { first: 1, step: 1, planned }
    }

    /// How many.
    pub fn len(&self) -> u32 {
        if self.first > self.planned { 0 } else { (self.planned - self.first) / self.step + 1 }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th (0-based) iteration index, if there are that many.
    pub fn get(&self, k: u32) -> Option<u32> {
        (k < self.len()).then(|| self.first + k * self.step)
    }

    /// The iteration indices, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + use<> {
        let (first, step, len) = (self.first, self.step, self.len());
        (0..len).map(move |k| first + k * step)
    }
}

/// Splits the iterations of consecutive runs (`planned[i]` iterations each) between shards:
/// the iterations of each run that `shard` owns, in campaign order (see [`Shard::owns`]).
pub fn assign(planned: &[u32], shard: Option<Shard>) -> Vec<Assigned> {
    let mut before = 0u64;
    planned
        .iter()
        .map(|&p| {
            let a = match shard {
                None => Assigned::all(p),
                Some(s) => {
                    // The first iteration i (1-based) whose position before + i - 1 the shard owns.
                    let n = u64::from(s.count);
                    let skip = (u64::from(s.index - 1) + n - before % n) % n;
                    // At most `count`: it fits; past `p`, the run has none of the shard's.
                    let first = u32::try_from(skip + 1).expect("below the shard count");
                    Assigned { first, step: s.count, planned: p }
                }
            };
            before += u64::from(p);
            a
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
        let shards: Vec<Vec<Assigned>> =
            (1..=3).map(|k| assign(&planned, Some(Shard { index: k, count: 3 }))).collect();
        for run in 0..planned.len() {
            let mut all: Vec<u32> = shards.iter().flat_map(|s| s[run].iter()).collect();
            all.sort();
            assert_eq!(all, (1..=planned[run]).collect::<Vec<_>>(), "run {run}: together they cover it, once each");
        }
        let mut n = 0u64;
        for (run, &p) in planned.iter().enumerate() {
            for i in 1..=p {
                let owner = shards.iter().position(|s| s[run].iter().any(|x| x == i)).unwrap();
                assert!(Shard { index: owner as u32 + 1, count: 3 }.owns(n), "run {run} iteration {i}");
                n += 1;
            }
        }
        let sizes: Vec<u32> = shards.iter().map(|s| s.iter().map(Assigned::len).sum()).collect();
        assert_eq!(sizes.iter().sum::<u32>(), total);
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        assert_eq!(assign(&planned, None)[2].iter().collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
        let a = assign(&[1, 2], Some(Shard { index: 3, count: 3 }));
        assert_eq!((a[0].len(), a[1].iter().collect::<Vec<_>>()), (0, vec![2]));
    }

    #[test]
    fn a_huge_campaign_is_assigned_without_listing_it() {
        let huge = [u32::MAX, u32::MAX, 3];
        let a = assign(&huge, Some(Shard { index: 2, count: 7 }));
        assert_eq!(std::mem::size_of_val(&a[..]), 3 * std::mem::size_of::<Assigned>());
        // Positions 0.. of the campaign: shard 2 of 7 owns positions 1, 8, 15, ...
        assert_eq!((a[0].get(0), a[0].get(1)), (Some(2), Some(9)));
        assert_eq!(a[0].len(), (u32::MAX - 2) / 7 + 1);
        let every: u64 = a.iter().map(|x| u64::from(x.len())).sum();
        assert_eq!(every, (2 * u64::from(u32::MAX) + 3 + 5) / 7);
        assert_eq!(assign(&huge, None)[1].len(), u32::MAX);
        assert_eq!(a[2].iter().collect::<Vec<_>>().len() as u32, a[2].len());
    }
}
