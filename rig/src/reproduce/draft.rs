//! No case hunts the crash: a starting case derived from its stack, written as a draft. The
//! module that panicked is reloaded in a loop; zones in the stack call for zone halts, a
//! halt or shutdown for a reboot (a reboot halts every zone at once too).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::reading::Reading;

/// Words in a frame's function that call for a trigger, and the trigger.
const TRIGGERS: &[(&[&str], Trigger)] =
    &[(&["zone", "zsd"], Trigger::Zones), (&["halt", "shutdown", "reboot", "kexec"], Trigger::Reboot)];

/// A step the stack calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// Halt the zones and boot them again (and reboot, which halts them all at once).
    Zones,
    /// Reboot the guest.
    Reboot,
}

/// A drafted case: its YAML and what it was derived from.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The case's name (`draft-vmm_zsd_destroy`).
    pub name: String,
    /// The image it boots.
    pub image: String,
    /// The case file's text (it loads with the case loader).
    pub yaml: String,
    /// What each step was derived from, one line each (also in the file's header).
    pub reasons: Vec<String>,
}

/// The image a draft for this crash boots: `image` when given, else the first image of the
/// OS the text was read as, else the rig's default image.
pub fn image_for(reading: &Reading, image: Option<&str>) -> String {
    if let Some(i) = image {
        return i.to_string();
    }
    let os = crate::guest_os::registry().into_iter().find(|k| k.name() == reading.os().name());
    os.and_then(|k| {
        let first = k.known(None).iter().filter_map(|s| s.split_whitespace().next().map(str::to_string)).next();
        k.default_image().map(str::to_string).or(first).filter(|n| k.profile_for(n).is_some())
    })
    .unwrap_or_else(crate::guest_os::default_image)
}

/// Drafts a case for the crash on `image` (see [`image_for`]). `source` names the text it
/// was read from, for the header. An image no OS knows is an error.
pub fn draft(reading: &Reading, image: &str, source: &str) -> Result<Draft, String> {
    let profile = crate::guest_os::profile_for(image).ok_or_else(|| crate::guest_os::unknown_image(image, None))?;
    let r = &reading.report;
    let stem = reading.function.clone().unwrap_or_else(|| crate::rundir::sanitize(r.headline()));
    let name: String = format!("draft-{stem}").chars().take(100).collect();
    let mut reasons = Vec::new();
    let mut steps = String::new();
    match reading.module() {
        Some(m) if profile.module(m).is_some() => {
            reasons.push(format!("reload_module {m}: the guilty function {stem} is in module {m}"));
            steps.push_str(&format!(
                "  - background:\n      steps:\n        - reload_module: {m}\n        - sleep: {{ min_ms: 0, max_ms: 200 }}\n"
            ));
        }
        Some(m) => reasons.push(format!(
            "no reload: the guilty module {m} is not one the {} profile can reload; add a step that exercises it",
            profile.name
        )),
        None => reasons.push("no reload: the stack names no module for the guilty function".into()),
    }
    let wanted = |t: Trigger| -> Vec<&str> {
        let fits = |f: &&str| TRIGGERS.iter().any(|(words, tt)| *tt == t && words.iter().any(|w| f.contains(w)));
        reading.frames.iter().map(|f| f.rsplit(':').next().unwrap_or(f)).filter(fits).collect()
    };
    let zones = wanted(Trigger::Zones);
    if !zones.is_empty() {
        let on = zones.join(", ");
        if profile.zones.is_some() {
            reasons.push(format!("halt_zones and boot_zones: zone frames on the stack ({on})"));
            steps.push_str("  - halt_zones: all\n    timeout_secs: 600\n  - boot_zones: all\n    timeout_secs: 600\n");
        } else {
            reasons.push(format!(
                "no zone halts: zone frames on the stack ({on}) but the {} guest has no zones",
                profile.name
            ));
        }
    }
    let halts = wanted(Trigger::Reboot);
    let reboot = !zones.is_empty() || !halts.is_empty();
    if reboot {
        let on = zones.iter().chain(&halts).copied().collect::<Vec<_>>().join(", ");
        reasons.push(format!("reboot: {on} on the stack (a reboot halts everything at once)"));
    } else if steps.is_empty() {
        reasons.push("reboot: nothing in the stack suggests a trigger; a reboot is a start".into());
    }
    if reboot || steps.is_empty() {
        // The moment of the reboot is the timing most likely to matter: the window search may move it.
        steps.push_str(
            "  - sleep: { min_ms: 0, max_ms: 1000, explore: { min_ms: 0, max_ms: 4000, split: 8 } }\n  - reboot: ssh\n",
        );
    }
    let mut yaml = String::new();
    let _ = writeln!(yaml, "# DRAFT written by `cargo xtask reproduce` from {source}:");
    let _ =
        writeln!(yaml, "# derived from the crash's stack, not tested. Check every step before trusting a run of it.");
    let _ = writeln!(yaml, "#   crash:  {}", r.headline());
    let _ = writeln!(yaml, "#   frames: {}", reading.frames.join(" < "));
    for why in &reasons {
        let _ = writeln!(yaml, "#   {why}");
    }
    let _ = writeln!(yaml, "name: {}", quoted(&name));
    let _ = writeln!(yaml, "description: {}", quoted(&format!("DRAFT: hunts {}", r.headline())));
    let _ = writeln!(yaml, "guest:\n  image: {}\n  vcpus: 2", quoted(image));
    let _ = writeln!(yaml, "hunts:\n  title: {}", quoted(&r.title));
    if let Some(f) = &reading.function {
        let _ = writeln!(yaml, "  function: {}", quoted(f));
    }
    let _ = writeln!(yaml, "iterations: 20\nexpect:\n  outcome: no_panic\nsteps:\n{steps}");
    crate::case::parse(&yaml)
        .map_err(|(l, c, m)| format!("the draft for {} does not load ({l}:{c}: {m}); this is a bug", r.headline()))?;
    Ok(Draft { name, image: image.to_string(), yaml, reasons })
}

/// Writes the draft into `dir` as `<name>.yaml` and returns its path.
pub fn write(draft: &Draft, dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{}.yaml", crate::rundir::sanitize(&draft.name)));
    std::fs::write(&path, &draft.yaml)?;
    Ok(path)
}

/// A YAML scalar for any text (titles hold `:`, `!`, `>`).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "''".into())
}
