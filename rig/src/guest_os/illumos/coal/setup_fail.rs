//! coal setup failures read off the console, so a failed setup ends the boot within a minute
//! instead of at the setup deadline. Pure: fed console lines and the unfinished last line.
//!
//! From sdc-headnode `scripts/headnode.sh`: its `fatal` writes `headnode configuration: fatal
//! error: <why>` to the console (after a line of spaces ending in `\r`) and exits; a zone whose
//! setup does not finish in `ZONE_SETUP_TIMEOUT` (180 s) ends its `creating zone <role>... ` line
//! with `timeout` (`failed` when the zone's setup failed, `svcs-fail` when its services are not
//! clear) and then calls `fatal`. A service setup stands on that svc.startd puts in maintenance
//! (smartos-live's `fs-joyent` exits 1 when it finds no USB key) ends it too. After setup `mark_as_setup` writes `"complete": true` into
//! `/var/lib/setup.json`, which the rig reads over SSH as well ([`SETUP_JSON_COMMAND`]).

use std::collections::VecDeque;
use std::sync::LazyLock;

use regex::Regex;

/// The fatal line's marker.
pub const FATAL: &str = "headnode configuration: fatal error:";
/// Console lines quoted with a failure (the fatal line and those before it).
const QUOTED: usize = 6;
/// Prints `/var/lib/setup.json` in the guest.
pub const SETUP_JSON_COMMAND: &str = "cat /var/lib/setup.json";

/// A setup failure seen on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupFailure {
    /// What failed: `zone imgapi: timeout`, or `headnode.sh` for a fatal line of its own.
    pub what: String,
    /// The console lines that say so, the last one the reason.
    pub lines: Vec<String>,
}

/// The services setup stands on (a prefix of the FMRI svc.startd names): the key and the pool
/// (`system/filesystem/smartdc`, smartos-live's `fs-joyent`) and setup itself (`system/smartdc/`).
const SETUP_SERVICES: &[&str] = &["system/filesystem/smartdc", "system/smartdc/"];

/// svc.startd's console line when a service goes to maintenance (`... failed fatally: ...`,
/// `... failed: ...`, `... misconfigured: ...`).
static MAINTENANCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"svc\.startd\[\d+\]: (?:svc:/)?(\S+) [\w ]+: transitioned to maintenance").expect("maintenance")
});

static ZONE_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"creating zone (?:\([0-9a-f-]+\) )?([\w-]+)\.\.\.\s+(timeout|failed|svcs-fail)\s*$").expect("zone end")
});

/// Follows console lines; says when setup failed.
#[derive(Debug, Default)]
pub struct FailWatch {
    recent: VecDeque<String>,
    zone: Option<String>,
}

impl FailWatch {
    /// Feeds one console line. A fatal line is a failure at once; a zone's `timeout`/`failed`
    /// line is remembered (its fatal line follows) and is [`FailWatch::zone_failed`] meanwhile.
    pub fn feed(&mut self, line: &str) -> Option<SetupFailure> {
        let text = line.rsplit('\r').find(|s| !s.trim().is_empty()).unwrap_or("").trim_end().to_string();
        if text.is_empty() {
            return None;
        }
        if let Some(c) = ZONE_END.captures(&text) {
            self.zone = Some(format!("zone {}: {}", &c[1], &c[2]));
        }
        self.recent.push_back(text.clone());
        if self.recent.len() > QUOTED {
            self.recent.pop_front();
        }
        // A service setup needs in maintenance (no USB key found, say): setup will never run.
        if let Some(c) = MAINTENANCE.captures(&text).filter(|c| SETUP_SERVICES.iter().any(|s| c[1].starts_with(s))) {
            return Some(SetupFailure {
                what: format!("service {} in maintenance", &c[1]),
                lines: self.recent.iter().cloned().collect(),
            });
        }
        text.contains(FATAL).then(|| SetupFailure {
            what: self.zone.clone().unwrap_or_else(|| "headnode.sh".into()),
            lines: self.recent.iter().cloned().collect(),
        })
    }

    /// A zone's failure line seen without its fatal line yet.
    pub fn zone_failed(&self) -> Option<SetupFailure> {
        let what = self.zone.clone()?;
        Some(SetupFailure { what, lines: self.recent.iter().cloned().collect() })
    }
}

/// Whether the console's unfinished last line looks like a prompt waiting for input (any
/// question, known to the rig's table or not): it ends in `:` or `?` (after an optional
/// `[default]`) and is not the login prompt. The caller decides how long it must stay.
pub fn prompt_waiting(partial: &str) -> Option<String> {
    let text = partial.rsplit('\r').find(|s| !s.trim().is_empty())?.trim();
    let waits = text.ends_with(':') || text.ends_with('?') || text.ends_with("to continue");
    let login = text.ends_with("login:") || text.ends_with("Password:");
    (waits && !login && text.chars().any(|c| c.is_alphabetic())).then(|| text.to_string())
}

/// Whether `/var/lib/setup.json`'s text says setup completed (`"complete": true`).
pub fn setup_json_complete(text: &str) -> Result<bool, String> {
    let v: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("/var/lib/setup.json is not JSON: {e}"))?;
    Ok(v.get("complete").and_then(serde_json::Value::as_bool) == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fatal_line_fails_at_once_with_its_lines() {
        let mut w = FailWatch::default();
        assert_eq!(w.feed("preparing for setup...                                    done (3s)"), None);
        assert_eq!(w.feed("creating zone assets...                                   done (12s)"), None);
        let f = w.feed(&format!("{:80}\r{FATAL} No agents-*.sh found!", " ")).unwrap();
        assert_eq!(f.what, "headnode.sh");
        assert_eq!(f.lines.last().unwrap(), &format!("{FATAL} No agents-*.sh found!"));
        assert_eq!(f.lines.len(), 3);
    }

    #[test]
    fn a_zone_timeout_names_the_zone() {
        let mut w = FailWatch::default();
        assert_eq!(w.feed("creating zone imgapi...                                   timeout"), None);
        assert_eq!(w.zone_failed().unwrap().what, "zone imgapi: timeout");
        let f = w.feed(&format!("{FATAL} Failed to create imgapi: setup timed out after 181 seconds.")).unwrap();
        assert_eq!(f.what, "zone imgapi: timeout");
        assert_eq!(f.lines.len(), 2);
        let mut w = FailWatch::default();
        w.feed("creating zone sapi...                                     done (30s)");
        assert!(w.zone_failed().is_none());
    }

    #[test]
    fn a_setup_service_in_maintenance_fails_at_once_others_do_not() {
        let mut w = FailWatch::default();
        let other = "Feb  5 07:59:08 svc.startd[9]: system/fmd:default failed: transitioned to maintenance (see 'svcs -xv' for details)";
        assert_eq!(w.feed(other), None);
        assert_eq!(
            w.feed("Dec  3 16:00:01 svc.startd[9]: svc:/system/filesystem/smartdc:default: Method \"/lib/svc/method/fs-joyent\" failed with exit status 1."),
            None
        );
        let f = w
            .feed("Dec  3 16:00:02 svc.startd[9]: system/filesystem/smartdc:default failed: transitioned to maintenance (see 'svcs -xv' for details)")
            .unwrap();
        assert_eq!(f.what, "service system/filesystem/smartdc:default in maintenance");
        assert_eq!(f.lines.len(), 3);
        let fatal = "svc.startd[100003]: system/smartdc/init:default failed fatally: transitioned to maintenance (see 'svcs -xv' for details)";
        assert_eq!(
            FailWatch::default().feed(fatal).unwrap().what,
            "service system/smartdc/init:default in maintenance"
        );
    }

    #[test]
    fn any_prompt_waits_but_the_login_prompt_does_not() {
        assert_eq!(prompt_waiting("Install pkgsrc? [y/N]:").as_deref(), Some("Install pkgsrc? [y/N]:"));
        assert_eq!(prompt_waiting("\rSome new question?").as_deref(), Some("Some new question?"));
        assert_eq!(prompt_waiting("headnode console login: "), None);
        assert_eq!(prompt_waiting("creating zone sapi... "), None);
        assert_eq!(prompt_waiting("adding volume: dump        "), None);
    }

    #[test]
    fn setup_json_marks_completion() {
        assert_eq!(setup_json_complete(r#"{"node_type":"headnode","complete":true}"#), Ok(true));
        assert_eq!(setup_json_complete(r#"{"node_type":"headnode","current_state":"agents_installed"}"#), Ok(false));
        assert!(setup_json_complete("cat: /var/lib/setup.json: No such file").is_err());
    }
}
