//! Progress while a campaign runs: on a terminal, one live bar per case × CPU (iterations,
//! elapsed, ETA, panics so far, the last outcome, or the guest's set-up stage); elsewhere (CI
//! logs, pipes) one plain line per change.

use std::collections::HashMap;
use std::io::IsTerminal as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rig::engine::campaign::Progress;

/// The progress display of one run.
pub struct Display {
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
}

impl Display {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Display {
        let tty = std::io::stderr().is_terminal();
        Display { bars: tty.then(|| (MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), HashMap::new())) }
    }

    /// Shows one update.
    pub fn show(&mut self, p: &Progress) {
        let Some((multi, bars)) = &mut self.bars else {
            return eprintln!("{}", line(p));
        };
        let bar = bars.entry(format!("{} on {}", p.case, p.cpu)).or_insert_with_key(|key| {
            let bar = multi.add(ProgressBar::new(u64::from(p.of)));
            let style = ProgressStyle::with_template("{prefix:32} [{bar:24}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(key.clone());
            bar
        });
        bar.set_length(u64::from(p.of));
        bar.set_position(u64::from(p.done));
        bar.set_message(match &p.stage {
            Some(stage) => stage.clone(),
            None => format!("{:.0}s, ETA {:.0}s, panics {}, last {}", p.elapsed, eta(p), p.panics, p.last),
        });
    }

    /// Removes the bars before the table is printed.
    pub fn finish(self) {
        if let Some((multi, _)) = self.bars {
            let _ = multi.clear();
        }
    }
}

/// The plain line of one update.
fn line(p: &Progress) -> String {
    if let Some(stage) = &p.stage {
        return format!("{} on {}: {stage} ({:.0}s)", p.case, p.cpu, p.elapsed);
    }
    format!(
        "{} on {}: iteration {}/{} ({}), {:.0}s elapsed, ETA {:.0}s, panics {}",
        p.case,
        p.cpu,
        p.done,
        p.of,
        p.last,
        p.elapsed,
        eta(p),
        p.panics
    )
}

/// Seconds left at the pace so far.
fn eta(p: &Progress) -> f64 {
    if p.done > 0 { p.elapsed / f64::from(p.done) * f64::from(p.of.saturating_sub(p.done)) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_iterations_eta_and_panics_or_the_stage() {
        let mut p = Progress {
            case: "c".into(),
            cpu: "epyc".into(),
            done: 2,
            of: 4,
            panics: 1,
            elapsed: 10.0,
            last: "panic".into(),
            stage: None,
        };
        assert_eq!(line(&p), "c on epyc: iteration 2/4 (panic), 10s elapsed, ETA 10s, panics 1");
        p.stage = Some("setup: creating zone sdc-docker".into());
        assert_eq!(line(&p), "c on epyc: setup: creating zone sdc-docker (10s)");
    }
}
