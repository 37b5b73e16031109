//! Bisection across builds: the first build, oldest to newest, that reproduces the hunted
//! signature. The newest build must reproduce (it runs until its first hit, within the
//! budget); every other probe is a sequential comparison against it
//! ([`crate::stats::sequential`]): NOT FIXED is a bad build (a hit is proof), FIXED a good one
//! (wrong with probability at most α), anything else inconclusive, which the search takes as
//! good and says so. The search assumes that once the bug is in, it stays.

use serde::{Deserialize, Serialize};

/// What one probe found about a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVerdict {
    /// It hit the hunted signature.
    Bad,
    /// FIXED against the newest build: its clean runs are significant.
    Good,
    /// Neither within the budget (or the race was not exercised on it).
    Inconclusive,
}

/// The next probe the search wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The newest build must reproduce first.
    Newest,
    /// Then the oldest must not.
    Oldest,
    /// Then the build at this position (0-based) between the good and the bad one.
    Between(usize),
}

impl Next {
    /// The position of the build it probes among `n`.
    pub fn position(self, n: usize) -> usize {
        match self {
            Next::Newest => n - 1,
            Next::Oldest => 0,
            Next::Between(i) => i,
        }
    }
}

/// How a bisection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The first bad build, every probe that placed it decided.
    Found,
    /// The first bad build, if the inconclusive probes taken as good were good.
    FoundAssuming,
    /// The oldest build already reproduces: the bug is older than the range.
    OldestBad,
    /// The newest build did not reproduce within the budget: nothing to bisect.
    NewestClean,
    /// It stopped before an answer (interrupted, a probe that could not run).
    Incomplete,
}

/// The search itself, pure: what to probe next, and the answer.
#[derive(Debug, Clone)]
pub struct Search {
    n: usize,
    /// The newest known-or-assumed good position.
    lo: usize,
    /// The oldest known bad position.
    hi: usize,
    /// Positions taken as good without a decided verdict.
    assumed: Vec<usize>,
    next: Option<Next>,
    end: Option<End>,
}

impl Search {
    /// A search over `n` builds (at least 2).
    pub fn new(n: usize) -> Search {
        assert!(n >= 2, "a bisection needs two builds");
        Search { n, lo: 0, hi: n - 1, assumed: Vec::new(), next: Some(Next::Newest), end: None }
    }

    /// The probe to run next (None: the search is over).
    pub fn next(&self) -> Option<Next> {
        self.next
    }

    /// Takes the verdict of the probe [`Search::next`] asked for.
    pub fn record(&mut self, verdict: ProbeVerdict) {
        let Some(probe) = self.next else { return };
        let i = probe.position(self.n);
        match (probe, verdict) {
            (Next::Newest, ProbeVerdict::Bad) => self.next = Some(Next::Oldest),
            (Next::Newest, _) => return self.stop(End::NewestClean),
            (_, ProbeVerdict::Bad) if i == 0 => return self.stop(End::OldestBad),
            (_, ProbeVerdict::Bad) => self.hi = i,
            (_, ProbeVerdict::Good) => self.lo = i,
            (_, ProbeVerdict::Inconclusive) => {
                self.lo = i;
                self.assumed.push(i);
            }
        }
        if probe != Next::Newest {
            self.next = (self.hi - self.lo > 1).then_some(Next::Between(self.lo + (self.hi - self.lo) / 2));
            if self.next.is_none() {
                let status = if self.assumed.is_empty() { End::Found } else { End::FoundAssuming };
                self.stop(status);
            }
        }
    }

    /// Ends the search with `status`.
    pub fn stop(&mut self, status: End) {
        self.next = None;
        self.end = Some(status);
    }

    /// How it ended (None while it runs).
    pub fn status(&self) -> Option<End> {
        self.end
    }

    /// The first bad position, once found.
    pub fn first_bad(&self) -> Option<usize> {
        matches!(self.end, Some(End::Found | End::FoundAssuming)).then_some(self.hi)
    }

    /// The last good position, once found.
    pub fn last_good(&self) -> Option<usize> {
        self.first_bad().map(|_| self.lo)
    }

    /// Positions taken as good without a decided verdict.
    pub fn assumed(&self) -> &[usize] {
        &self.assumed
    }
}

/// One probe, for the bisection log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    /// The build probed.
    pub build: String,
    /// Its position in the series, 1-based.
    pub position: usize,
    /// What it found.
    pub verdict: ProbeVerdict,
    /// Its hits of the hunted signature.
    pub hits: u32,
    /// Its iterations that ran to an outcome.
    pub iterations: u32,
    /// Wall-clock seconds of the probe (the newest build's iterations in it included).
    pub secs: f64,
    /// The conclusion it rests on.
    pub text: String,
    /// The probe's own run directory (its report.json and evidence).
    pub run_dir: String,
}

/// A bisection's result, in `report.json` (`bisection`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bisection {
    /// The case.
    pub case: String,
    /// The CPU model.
    pub cpu: String,
    /// The builds, oldest first.
    pub builds: Vec<String>,
    /// The probes in the order they ran.
    pub probes: Vec<Probe>,
    /// How it ended.
    pub status: End,
    /// The first build that reproduces.
    pub first_bad: Option<String>,
    /// The answer, with its confidence and what it assumed.
    pub answer: String,
}

impl Bisection {
    /// The exit code: 0 found with every probe decided, 1 an answer resting on an assumption
    /// or none (the range does not bracket the bug), 3 incomplete (130 is the caller's when
    /// interrupted).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            End::Found => 0,
            End::FoundAssuming | End::OldestBad | End::NewestClean => 1,
            End::Incomplete => 3,
        }
    }

    /// The bisection log, one line per probe, and the answer.
    pub fn render(&self) -> String {
        let mut s = format!("\nbisection of {} on {} over {} builds:\n", self.case, self.cpu, self.builds.len());
        for p in &self.probes {
            s.push_str(&format!(
                "  {:>2}. {:<28} {:<12} {:>3}/{:<4} {:>7.0}s  {}\n",
                p.position,
                p.build,
                match p.verdict {
                    ProbeVerdict::Bad => "BAD",
                    ProbeVerdict::Good => "good",
                    ProbeVerdict::Inconclusive => "inconclusive",
                },
                p.hits,
                p.iterations,
                p.secs,
                p.run_dir
            ));
        }
        s.push_str(&format!("=> {}\n", self.answer));
        s
    }
}

/// The answer's sentence.
pub fn answer(search: &Search, builds: &[String], probes: &[Probe], alpha: f64) -> String {
    let name = |i: usize| builds[i].as_str();
    let probe_of = |i: usize| probes.iter().rev().find(|p| p.position == i + 1);
    match search.status() {
        Some(End::Found | End::FoundAssuming) => {
            let (bad, good) = (search.first_bad().unwrap(), search.last_good().unwrap());
            let bad_p = probe_of(bad).map(|p| format!("{}/{} hits", p.hits, p.iterations)).unwrap_or_default();
            let mut s = format!("first bad build: {} ({bad_p}); the build before it, {}, ", name(bad), name(good));
            if search.assumed().contains(&good) {
                s.push_str("was taken as good without a decided verdict");
            } else {
                s.push_str(&format!("is good with at least {:.0}% confidence", (1.0 - alpha) * 100.0));
            }
            if !search.assumed().is_empty() {
                let names: Vec<&str> = search.assumed().iter().map(|&i| name(i)).collect();
                s.push_str(&format!(
                    ". ASSUMED good (inconclusive within the budget; raise --max-iterations to decide): {}",
                    names.join(", ")
                ));
            }
            s.push_str(". The search assumes that once the bug is in a build, it stays in later ones.");
            s
        }
        Some(End::OldestBad) => format!(
            "the oldest build, {}, already reproduces: the bug is older than the range; add older builds",
            name(0)
        ),
        Some(End::NewestClean) => format!(
            "the newest build, {}, did not reproduce within the budget: nothing to bisect (raise --max-iterations, or \
             check the case's hunts)",
            name(builds.len() - 1)
        ),
        Some(End::Incomplete) | None => "the bisection stopped before an answer (see the last probe)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sequential::{self, Decision};

    /// Runs a search over builds hitting at `rates`, each probe simulated: the newest until its
    /// first hit within `budget`, the others as sequential comparisons against it.
    fn simulate(rng: &mut fastrand::Rng, rates: &[f64], budget: u32) -> Search {
        let mut s = Search::new(rates.len());
        let newest = rates[rates.len() - 1];
        while let Some(next) = s.next() {
            let rate = rates[next.position(rates.len())];
            let verdict = if next == Next::Newest {
                if (0..budget).any(|_| rng.f64() < rate) { ProbeVerdict::Bad } else { ProbeVerdict::Inconclusive }
            } else {
                let (mut r, mut c) = (Vec::new(), Vec::new());
                let mut d = Decision::Undecided { n: 0, ref_hits: 0, needed: 0 };
                for _ in 0..budget {
                    r.push(rng.f64() < newest);
                    c.push(rng.f64() < rate);
                    d = sequential::decide(&sequential::DEFAULT, &r, &c);
                    if d.decided() {
                        break;
                    }
                }
                match d {
                    Decision::NotFixed { .. } => ProbeVerdict::Bad,
                    Decision::Fixed { .. } => ProbeVerdict::Good,
                    Decision::Undecided { .. } => ProbeVerdict::Inconclusive,
                }
            };
            s.record(verdict);
        }
        s
    }

    #[test]
    fn a_clean_series_is_bisected_in_log2_probes() {
        // Bug from position 3 of 6; every probe decides at once.
        let truth = |i: usize| if i >= 3 { ProbeVerdict::Bad } else { ProbeVerdict::Good };
        let mut s = Search::new(6);
        let mut probed = Vec::new();
        while let Some(next) = s.next() {
            let i = next.position(6);
            probed.push(i);
            s.record(truth(i));
        }
        assert_eq!(probed, [5, 0, 2, 3]);
        assert_eq!((s.status(), s.first_bad(), s.last_good()), (Some(End::Found), Some(3), Some(2)));
    }

    #[test]
    fn the_ends_are_checked_first() {
        let mut s = Search::new(4);
        s.record(ProbeVerdict::Inconclusive);
        assert_eq!(s.status(), Some(End::NewestClean));
        let mut s = Search::new(4);
        s.record(ProbeVerdict::Bad);
        assert_eq!(s.next(), Some(Next::Oldest));
        s.record(ProbeVerdict::Bad);
        assert_eq!((s.status(), s.first_bad()), (Some(End::OldestBad), None));
        // Two builds: the ends are the whole search.
        let mut s = Search::new(2);
        s.record(ProbeVerdict::Bad);
        s.record(ProbeVerdict::Good);
        assert_eq!((s.status(), s.first_bad()), (Some(End::Found), Some(1)));
    }

    #[test]
    fn an_inconclusive_probe_is_taken_as_good_and_said() {
        let mut s = Search::new(6);
        for v in [ProbeVerdict::Bad, ProbeVerdict::Good, ProbeVerdict::Inconclusive, ProbeVerdict::Bad] {
            s.record(v);
        }
        assert_eq!((s.status(), s.first_bad(), s.assumed()), (Some(End::FoundAssuming), Some(3), &[2][..]));
        let builds: Vec<String> = (1..=6).map(|i| format!("b{i}")).collect();
        let a = answer(&s, &builds, &[], 0.05);
        assert!(a.starts_with("first bad build: b4"), "{a}");
        assert!(a.contains("b3, was taken as good without a decided verdict"), "{a}");
        assert!(
            a.contains("ASSUMED good (inconclusive within the budget; raise --max-iterations to decide): b3"),
            "{a}"
        );
    }

    /// The search with flaky probes: a race at 30% is found at the right build nearly always;
    /// a race at 5% with a small budget often leaves probes inconclusive, and then the answer
    /// says it assumed, but an answer that claims to be decided is right at least 1 - α of
    /// the time.
    #[test]
    fn simulated_bisections_with_flaky_probes_find_the_first_bad_build() {
        let mut rng = fastrand::Rng::with_seed(4711);
        for (rate, budget) in [(0.3, 100), (1.0, 100), (0.05, 30)] {
            let rates: Vec<f64> = (0..8).map(|i| if i >= 5 { rate } else { 0.0 }).collect();
            let runs = 2000;
            let (mut decided, mut right_decided, mut found) = (0, 0, 0);
            for _ in 0..runs {
                let s = simulate(&mut rng, &rates, budget);
                if s.first_bad().is_some() {
                    found += 1;
                }
                if s.status() == Some(End::Found) {
                    decided += 1;
                    right_decided += usize::from(s.first_bad() == Some(5));
                }
            }
            if rate >= 0.3 {
                assert!(decided as f64 >= 0.98 * runs as f64, "rate {rate}: decided {decided} of {runs}");
            } else {
                assert!(found > 0 && decided < runs, "rate {rate}: found {found}, decided {decided}");
            }
            if decided > 0 {
                let share = right_decided as f64 / decided as f64;
                assert!(share >= 0.95, "rate {rate}: {right_decided} of {decided} decided answers right");
            }
        }
    }
}
