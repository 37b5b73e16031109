//! Background loops made of shell-only steps run inside the guest as one shell loop: far
//! faster than a round trip per step, which matters when racing a module reload against a
//! reboot. Pure: turns steps into a script.

use crate::case::{Step, StepKind};
use crate::machine::Vendor;
use crate::profile::Profile;

/// The file whose existence stops the loop with this id.
pub fn stop_file(id: u64) -> String {
    format!("/tmp/rig-stop-{id}")
}

/// The script for repeating `steps` until the stop file exists; prints the number of rounds.
/// `None` if a step cannot run as shell (QMP, reboots, nested blocks, ...).
pub fn loop_script(steps: &[Step], profile: &Profile, vendor: Vendor, id: u64, seed: u32) -> Option<String> {
    let mut body = Vec::new();
    for s in steps {
        body.push(match &s.kind {
            StepKind::Ssh { cmd, .. } => format!("( {cmd} ) >/dev/null 2>&1"),
            StepKind::ReloadModule(m) => format!("( {} ) >/dev/null 2>&1", profile.module(m)?.command(vendor)),
            k @ (StepKind::HaltZones(_) | StepKind::BootZones) => {
                format!("( {} ) >/dev/null 2>&1", super::steps::zone_command(profile, k)?)
            }
            StepKind::Sleep(j) if j.max_ms == 0 => continue,
            StepKind::Sleep(j) => {
                let span = j.max_ms - j.min_ms + 1;
                profile.sleep_ms.replace("{ms}", &format!("{} + (RANDOM * 32768 + RANDOM) % {span}", j.min_ms))
            }
            _ => return None,
        });
    }
    let stop = stop_file(id);
    Some(format!(
        "rm -f {stop}; RANDOM={seed}; n=0; while [ ! -e {stop} ]; do {}; n=$((n+1)); done; rm -f {stop}; echo $n",
        body.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::model::Jitter;
    use crate::profile::LINUX;

    fn step(kind: StepKind) -> Step {
        Step { kind, timeout_secs: None }
    }

    #[test]
    fn reload_loop_becomes_one_script() {
        let steps =
            [step(StepKind::ReloadModule("vmm".into())), step(StepKind::Sleep(Jitter { min_ms: 5, max_ms: 20 }))];
        let s = loop_script(&steps, &LINUX, Vendor::Amd, 3, 42).unwrap();
        assert_eq!(
            s,
            "rm -f /tmp/rig-stop-3; RANDOM=42; n=0; while [ ! -e /tmp/rig-stop-3 ]; do ( rmmod kvm_amd; modprobe kvm_amd ) >/dev/null 2>&1; \
             usleep $(( (5 + (RANDOM * 32768 + RANDOM) % 16) * 1000 )); n=$((n+1)); done; rm -f /tmp/rig-stop-3; echo $n"
        );
    }

    #[test]
    fn illumos_loops_use_its_own_commands() {
        let steps =
            [step(StepKind::ReloadModule("vmm".into())), step(StepKind::Sleep(Jitter { min_ms: 0, max_ms: 200 }))];
        let s = loop_script(&steps, &crate::profile::ILLUMOS, Vendor::Amd, 1, 7).unwrap();
        assert!(
            s.contains("modunload -i $(modinfo | awk '$6 == \"vmm\" {print $1}'); modload /kernel/drv/amd64/vmm"),
            "{s}"
        );
        assert!(
            s.contains(
                "ms=$(( 0 + (RANDOM * 32768 + RANDOM) % 201 )); sleep $((ms / 1000)).$(printf %03d $((ms % 1000)))"
            ),
            "{s}"
        );
        assert!(!s.contains("usleep"), "{s}");
    }

    #[test]
    fn qmp_or_reboot_steps_stay_on_the_host() {
        let steps = [step(StepKind::Reboot(crate::case::RebootVia::Ssh))];
        assert!(loop_script(&steps, &LINUX, Vendor::Amd, 1, 1).is_none());
        let steps = [step(StepKind::ReloadModule("nonesuch".into()))];
        assert!(loop_script(&steps, &LINUX, Vendor::Amd, 1, 1).is_none());
    }
}
