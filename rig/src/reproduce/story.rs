//! One reproduction told once: the customer's signature, the case used, the window found, the
//! reproduction rate, the first bad build with its confidence, and the commands that rerun
//! each step. `cargo xtask reproduce` prints it, writes it as the run's `report.json`, and the
//! run page (`rig::report::story_page`) shows it.

use serde::{Deserialize, Serialize};

/// Hits in iterations, with the 95% Wilson interval of the rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Iterations that hit the hunted signature.
    pub hits: u32,
    /// Iterations run.
    pub iterations: u32,
    /// The 95% interval's low end.
    pub low: f64,
    /// Its high end.
    pub high: f64,
}

impl Rate {
    /// `hits` of `iterations`, with its interval.
    pub fn new(hits: u32, iterations: u32) -> Rate {
        let (low, high) = crate::stats::wilson(hits, iterations);
        Rate { hits, iterations, low, high }
    }

    /// The rate measured (0 without iterations).
    pub fn rate(&self) -> f64 {
        if self.iterations == 0 { 0.0 } else { f64::from(self.hits) / f64::from(self.iterations) }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} hits, {:.1}% (95% CI {:.1}-{:.1}%)",
            self.hits,
            self.iterations,
            100.0 * self.rate(),
            100.0 * self.low,
            100.0 * self.high
        )
    }
}

/// The window a search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// The timing searched, as the case loader names places.
    pub timing: String,
    /// The window's range.
    pub min_ms: u64,
    /// Its end.
    pub max_ms: u64,
    /// The rate in the window.
    pub rate: Rate,
    /// The rate of the case's original ranges, measured in the same run.
    pub original: Rate,
    /// The case narrowed to the window.
    pub narrowed_case: String,
}

/// A reproduction, start to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Story {
    /// The customer's signature: the crash's title.
    pub signature: String,
    /// The frames that identify it, guilty function first.
    pub frames: Vec<String>,
    /// The case used (its name) and its file.
    pub case: String,
    /// The case's file.
    pub case_file: String,
    /// The window found, when one was searched.
    pub window: Option<Window>,
    /// The reproduction rate: in the window when one was found, else in the run of the case.
    pub reproduction: Option<Rate>,
    /// The first bad build, when builds were bisected.
    pub first_bad: Option<String>,
    /// The bisection's answer with its confidence.
    pub bisection: Option<String>,
    /// The command that reruns each step, in order: (step, command).
    pub commands: Vec<(String, String)>,
}

impl std::fmt::Display for Story {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "reproduction:")?;
        writeln!(f, "  signature:  {}", self.signature)?;
        if !self.frames.is_empty() {
            writeln!(f, "  frames:     {}", self.frames.join(" < "))?;
        }
        writeln!(f, "  case:       {} ({})", self.case, self.case_file)?;
        if let Some(w) = &self.window {
            writeln!(f, "  window:     {}..{} ms at {}: {}", w.min_ms, w.max_ms, w.timing, w.rate)?;
            writeln!(f, "              the case as it is: {} (same run)", w.original)?;
            writeln!(f, "              narrowed case: {}", w.narrowed_case)?;
        }
        match &self.reproduction {
            Some(r) => writeln!(f, "  rate:       {r}")?,
            None => writeln!(f, "  rate:       not measured")?,
        }
        match (&self.first_bad, &self.bisection) {
            (_, Some(answer)) => writeln!(f, "  bisection:  {answer}")?,
            (Some(b), None) => writeln!(f, "  first bad:  {b}")?,
            (None, None) => {}
        }
        writeln!(f, "  rerun:")?;
        for (step, cmd) in &self.commands {
            writeln!(f, "    {step:<14} {cmd}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_says_each_part_once() {
        let s = Story {
            signature: "kernel BUG in vmm_zsd_destroy".into(),
            frames: vec!["vmm_zsd_destroy".into(), "zsd_apply_destroy".into()],
            case: "os-7410-timed".into(),
            case_file: "testcases/os-7410-timed.yaml".into(),
            window: Some(Window {
                timing: "steps[1].sleep".into(),
                min_ms: 1000,
                max_ms: 1500,
                rate: Rate::new(5, 6),
                original: Rate::new(0, 6),
                narrowed_case: "w.yaml".into(),
            }),
            reproduction: Some(Rate::new(5, 6)),
            first_bad: Some("b4".into()),
            bisection: Some("first bad build: b4".into()),
            commands: vec![("read".into(), "cargo xtask reproduce t.txt --list".into())],
        };
        let text = s.to_string();
        assert!(text.contains("window:     1000..1500 ms at steps[1].sleep: 5/6 hits, 83.3% (95% CI "), "{text}");
        assert!(text.contains("the case as it is: 0/6 hits, 0.0%"), "{text}");
        assert!(text.contains("bisection:  first bad build: b4"), "{text}");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Story>(&json).unwrap().to_string(), text, "report.json reads back");
    }
}
