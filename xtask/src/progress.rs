//! Progress while a campaign runs: on a terminal, one live bar per case × CPU × image (iterations,
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
        if std::io::stderr().is_terminal() {
            Display::with_bars(ProgressDrawTarget::stderr())
        } else {
            Display { bars: None }
        }
    }

    /// Bars drawn to `target`.
    fn with_bars(target: ProgressDrawTarget) -> Display {
        let multi = MultiProgress::with_draw_target(target);
        crate::logs::above(Some(multi.clone()));
        Display { bars: Some((multi, HashMap::new())) }
    }

    /// Shows one update.
    pub fn show(&mut self, p: &Progress) {
        let Some((multi, bars)) = &mut self.bars else {
            return eprintln!("{}", line(p));
        };
        let bar = bars.entry(label(p)).or_insert_with_key(|key| {
            let bar = multi.add(ProgressBar::new(u64::from(p.of)));
            let style = ProgressStyle::with_template("{prefix:40} [{bar:24}] {pos}/{len} {msg}")
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
            crate::logs::above(None);
            let _ = multi.clear();
        }
    }
}

/// What one bar or line is about: the case, the CPU and the image.
fn label(p: &Progress) -> String {
    format!("{} on {} ({})", p.case, p.cpu, p.image)
}

/// The plain line of one update.
fn line(p: &Progress) -> String {
    if let Some(stage) = &p.stage {
        return format!("{}: {stage} ({:.0}s)", label(p), p.elapsed);
    }
    format!(
        "{}: iteration {}/{} ({}), {:.0}s elapsed, ETA {:.0}s, panics {}",
        label(p),
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
            image: "linux".into(),
            done: 2,
            of: 4,
            panics: 1,
            elapsed: 10.0,
            last: "panic".into(),
            stage: None,
        };
        assert_eq!(line(&p), "c on epyc (linux): iteration 2/4 (panic), 10s elapsed, ETA 10s, panics 1");
        p.stage = Some("setup: creating zone sdc-docker".into());
        assert_eq!(line(&p), "c on epyc (linux): setup: creating zone sdc-docker (10s)");
    }

    #[test]
    fn the_builds_of_a_comparison_get_a_bar_each() {
        let mut d = Display::with_bars(ProgressDrawTarget::hidden());
        let build = |image: &str, done| Progress {
            case: "os-7410".into(),
            cpu: "epyc".into(),
            image: image.into(),
            done,
            of: 10,
            panics: 0,
            elapsed: 1.0,
            last: "completed".into(),
            stage: None,
        };
        d.show(&build("linux-os7410-debug", 3));
        d.show(&build("linux-os7410-fixed", 5));
        let (_, bars) = d.bars.as_ref().unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars["os-7410 on epyc (linux-os7410-debug)"].position(), 3);
        assert_eq!(bars["os-7410 on epyc (linux-os7410-fixed)"].position(), 5);
    }
}
