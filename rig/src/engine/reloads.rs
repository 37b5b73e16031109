//! Module reloads, counted: what one reload did (did the unload and the load each succeed, in
//! the guest's words), the counts an iteration adds up, the report line an in-guest loop
//! writes them in, and what a failure means under the case's `unload_busy`. Pure.

use crate::case::model::UnloadBusy;

pub use crate::results::reloads::{Reload, ReloadCounts, Unload};

/// Classifies an unload by its exit status and output: busy (or absent) when it failed with one
/// of the profile's busy (absent) words in its output.
pub fn classify_unload(status: Option<u32>, output: &str, m: &crate::profile::ModuleReload) -> Unload {
    let words = first_line(output);
    let has = |ws: &[&str]| ws.iter().any(|w| output.contains(w));
    match status {
        Some(0) => Unload::Ok,
        _ if has(m.busy) => Unload::Busy(words),
        _ if has(m.absent) => Unload::Absent(words),
        Some(s) => Unload::Failed(format!("exit {s}: {words}")),
        None => Unload::Failed(format!("no exit status: {words}")),
    }
}

/// The first non-empty line of a command's output, trimmed and bounded.
pub fn first_line(output: &str) -> String {
    let line = output.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no output)");
    line.chars().take(200).collect()
}

/// Why a reload (or a loop of them) fails its step, if it does: a failed load always; an unload
/// that failed for any reason but busy always; a busy one unless the case tolerates it.
pub fn reload_failure(r: &Reload, busy: UnloadBusy) -> Option<String> {
    match (&r.load, &r.unload) {
        (Err(w), _) => Some(format!("the load failed: {w}")),
        (_, Unload::Failed(w)) => Some(format!("the unload failed: {w}")),
        (_, Unload::Busy(w)) if busy == UnloadBusy::Fail => {
            Some(format!("the unload was refused as busy (unload_busy: fail): {w}"))
        }
        _ => None,
    }
}

/// The first line of an in-guest loop's report.
pub const LOOP_TAG: &str = "rig-loop";
/// A line of the report quoting the guest's first words for one kind of failure.
pub const MSG_TAG: &str = "rig-loop-msg";

/// What an in-guest loop reported: rounds, reload counts, failed commands and the guest's
/// first words for each kind of failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopReport {
    /// Rounds of the loop's body completed.
    pub rounds: u32,
    /// Its reloads (`loop_rounds`, `loops` left at zero: the caller adds the loop).
    pub counts: ReloadCounts,
    /// Unloads that failed for a reason other than busy.
    pub unloads_failed: u32,
    /// Loads that failed.
    pub loads_failed: u32,
    /// Other commands (`ssh`, zone steps) that did not exit as expected.
    pub commands_failed: u32,
    /// `(kind, words)`: kind is `busy`, `unload`, `load` or `step N` (N 1-based).
    pub messages: Vec<(String, String)>,
}

impl LoopReport {
    /// Reads a report (`rig-loop k=v ...` then `rig-loop-msg kind: words` lines); None when
    /// the text holds no report line (the loop could not run).
    pub fn parse(text: &str) -> Option<LoopReport> {
        let mut r = LoopReport::default();
        let mut seen = false;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(MSG_TAG).and_then(|l| l.strip_prefix(' ')) {
                let (kind, words) = rest.split_once(": ").unwrap_or((rest, ""));
                r.messages.push((kind.to_string(), words.to_string()));
            } else if let Some(rest) = line.strip_prefix(LOOP_TAG).and_then(|l| l.strip_prefix(' ')) {
                seen = true;
                for (k, v) in rest.split_whitespace().filter_map(|kv| kv.split_once('=')) {
                    let v: u32 = v.parse().ok()?;
                    let c = &mut r.counts;
                    match k {
                        "rounds" => r.rounds = v,
                        "attempted" => c.attempted = v,
                        "unloads_ok" => c.unloads_ok = v,
                        "unloads_busy" => c.unloads_busy = v,
                        "unloads_absent" => c.unloads_absent = v,
                        "unloads_failed" => r.unloads_failed = v,
                        "loads_ok" => c.loads_ok = v,
                        "loads_failed" => r.loads_failed = v,
                        "reloads_ok" => c.reloads_ok = v,
                        "commands_failed" => r.commands_failed = v,
                        _ => {}
                    }
                }
            }
        }
        seen.then_some(r)
    }

    /// The guest's words for a kind of failure.
    fn words(&self, kind: &str) -> &str {
        self.messages.iter().find(|(k, _)| k == kind).map_or("(no message recorded)", |(_, w)| w.as_str())
    }

    /// Why the loop fails its iteration, if it does: no round at all, a command or a load that
    /// failed, an unload that failed (busy only when the case does not tolerate it).
    pub fn failure(&self, busy: UnloadBusy) -> Option<String> {
        let mut why = Vec::new();
        if self.rounds == 0 {
            why.push("ran no round of its body".to_string());
        }
        if self.loads_failed > 0 {
            why.push(format!(
                "{} of {} loads failed: {}",
                self.loads_failed,
                self.counts.attempted,
                self.words("load")
            ));
        }
        if self.unloads_failed > 0 {
            why.push(format!(
                "{} of {} unloads failed: {}",
                self.unloads_failed,
                self.counts.attempted,
                self.words("unload")
            ));
        }
        if self.counts.unloads_busy > 0 && busy == UnloadBusy::Fail {
            why.push(format!(
                "{} of {} unloads were refused as busy (unload_busy: fail): {}",
                self.counts.unloads_busy,
                self.counts.attempted,
                self.words("busy")
            ));
        }
        if self.commands_failed > 0 {
            let steps: Vec<String> = self
                .messages
                .iter()
                .filter(|(k, _)| k.starts_with("step "))
                .map(|(k, w)| format!("{k}: {w}"))
                .collect();
            why.push(format!("{} commands failed: {}", self.commands_failed, steps.join("; ")));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// The loop's counts as one loop of an iteration.
    pub fn as_loop(&self) -> ReloadCounts {
        ReloadCounts { loop_rounds: self.rounds, loops: 1, loops_unreported: 0, ..self.counts.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmm() -> &'static crate::profile::ModuleReload {
        crate::guest_os::illumos::ILLUMOS.module("vmm").unwrap()
    }

    #[test]
    fn unloads_are_classified_by_status_and_words() {
        assert_eq!(classify_unload(Some(0), "", vmm()), Unload::Ok);
        assert_eq!(
            classify_unload(Some(16), "can't unload the module: Device busy\n", vmm()),
            Unload::Busy("can't unload the module: Device busy".into())
        );
        assert_eq!(
            classify_unload(Some(2), "\nusage:  modunload -i <module_id>\n", vmm()),
            Unload::Failed("exit 2: usage:  modunload -i <module_id>".into())
        );
        assert_eq!(classify_unload(None, "", vmm()), Unload::Failed("no exit status: (no output)".into()));
        assert_eq!(classify_unload(Some(1), "vmm is not loaded\n", vmm()), Unload::Absent("vmm is not loaded".into()));
        assert_eq!(
            classify_unload(Some(22), "can't unload the module: Invalid argument\n", vmm()),
            Unload::Absent("can't unload the module: Invalid argument".into())
        );
    }

    #[test]
    fn a_reload_fails_its_step_as_the_case_says() {
        let busy = Reload { unload: Unload::Busy("Device busy".into()), load: Ok(()) };
        assert!(reload_failure(&busy, UnloadBusy::Tolerate).is_none());
        assert!(reload_failure(&busy, UnloadBusy::Fail).unwrap().ends_with("Device busy"));
        let bad_load = Reload { unload: Unload::Ok, load: Err("can't load module: No such file".into()) };
        assert_eq!(
            reload_failure(&bad_load, UnloadBusy::Tolerate).unwrap(),
            "the load failed: can't load module: No such file"
        );
        let bad_unload = Reload { unload: Unload::Failed("exit 2: usage".into()), load: Ok(()) };
        assert!(reload_failure(&bad_unload, UnloadBusy::Tolerate).is_some());
        let mut c = ReloadCounts::default();
        for r in [&busy, &bad_load, &bad_unload, &Reload { unload: Unload::Ok, load: Ok(()) }] {
            c.add(r);
        }
        assert_eq!((c.attempted, c.unloads_ok, c.unloads_busy, c.loads_ok, c.reloads_ok), (4, 2, 1, 3, 1));
    }

    #[test]
    fn a_loop_report_is_read_with_the_guests_words() {
        let text = "noise\nrig-loop rounds=12 attempted=12 unloads_ok=9 unloads_busy=3 unloads_failed=0 loads_ok=12 \
                    loads_failed=0 reloads_ok=9 commands_failed=1\nrig-loop-msg busy: can't unload the module: Device busy\n\
                    rig-loop-msg step 3: exit 1: cat: /nonesuch: No such file or directory\n";
        let r = LoopReport::parse(text).unwrap();
        assert_eq!(r.rounds, 12);
        assert_eq!((r.counts.attempted, r.counts.unloads_busy, r.counts.reloads_ok, r.commands_failed), (12, 3, 9, 1));
        let why = r.failure(UnloadBusy::Fail).unwrap();
        assert!(why.contains(
            "3 of 12 unloads were refused as busy (unload_busy: fail): can't unload the module: Device busy"
        ));
        assert!(why.contains("1 commands failed: step 3: exit 1: cat: /nonesuch: No such file or directory"), "{why}");
        let tolerated = r.failure(UnloadBusy::Tolerate).unwrap();
        assert!(!tolerated.contains("busy"), "{tolerated}");
        let c = r.as_loop();
        assert_eq!((c.loop_rounds, c.loops, c.reloads_ok), (12, 1, 9));
    }

    #[test]
    fn a_loop_without_a_report_or_a_round_is_a_failure() {
        assert!(LoopReport::parse("sh: syntax error: unterminated quoted string\n").is_none());
        assert!(LoopReport::parse("rig-loop rounds=x\n").is_none());
        let none = LoopReport::parse("rig-loop rounds=0 attempted=0\n").unwrap();
        assert_eq!(none.failure(UnloadBusy::Tolerate).unwrap(), "ran no round of its body");
        let fine = LoopReport::parse("rig-loop rounds=5 attempted=5 unloads_ok=5 loads_ok=5 reloads_ok=5\n").unwrap();
        assert_eq!(fine.failure(UnloadBusy::Fail), None);
    }
}
