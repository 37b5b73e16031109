//! Background loops made of shell-only steps run inside the guest as one shell loop: far
//! faster than a round trip per step, which matters when racing a module reload against a
//! reboot. The loop checks every command: each reload's unload and load, each command's exit
//! status, counted, with the guest's first words for each kind of failure, in a report file
//! rewritten after every round (read before a reboot, and printed when the loop stops; see
//! [`super::reloads::LoopReport`]). Commands run through `eval` of a quoted word, so a `#` or a
//! stray quote in one breaks that command (counted as failed), not the loop. Pure.

use super::reloads::{LOOP_TAG, MSG_TAG};
use crate::case::{Step, StepKind};
use crate::machine::Vendor;
use crate::profile::{ModuleReload, Profile};
use crate::ssh::shell_quote;

/// The file whose existence stops the loop with this id.
pub fn stop_file(id: u64) -> String {
    format!("/tmp/rig-stop-{id}")
}

/// The prefix of the loop's report files (`.counts`, `.msg`, `.seen-<kind>`).
fn report_prefix(id: u64) -> String {
    format!("/tmp/rig-loop-{id}")
}

/// Prints the loop's report as it stands (after its last complete round).
pub fn report_command(id: u64) -> String {
    let f = report_prefix(id);
    format!("cat {f}.counts {f}.msg 2>/dev/null")
}

/// Runs `cmd` (a quoted `eval`) and counts it as failed unless it exits with `want`.
fn checked(cmd: &str, want: u32, k: usize) -> String {
    format!(
        "m=$(eval {} 2>&1); s=$?; [ $s -eq {want} ] || {{ cf=$((cf+1)); msg step-{k} 'step {k}' \"exit $s: $m\"; }}",
        shell_quote(cmd)
    )
}

/// A `case` arm for output holding one of `words` (none for no words).
fn arm(words: &[&str], then: &str) -> String {
    let pats: Vec<String> = words.iter().map(|w| format!("*{}*", shell_quote(w))).collect();
    if pats.is_empty() { String::new() } else { format!("{}) {then};; ", pats.join("|")) }
}

/// One reload: the unload (busy or absent when its output has one of the profile's words for
/// that), then the load.
fn reload(m: &ModuleReload, vendor: Vendor) -> String {
    let (unload, load) = (m.unload_command(vendor), m.load_command(vendor));
    let busy_case = format!(
        "{}{}",
        arm(m.busy, "ub=$((ub+1)); msg busy busy \"$m\""),
        arm(m.absent, "ua=$((ua+1)); msg absent absent \"$m\"")
    );
    format!(
        "a=$((a+1)); if m=$(eval {} 2>&1); then uo=$((uo+1)); u=1; else s=$?; u=0; case $m in {busy_case}\
         *) uf=$((uf+1)); msg unload unload \"exit $s: $m\";; esac; fi; \
         if m=$(eval {} 2>&1); then lo=$((lo+1)); [ $u = 0 ] || ro=$((ro+1)); else s=$?; lf=$((lf+1)); msg load load \"exit $s: $m\"; fi",
        shell_quote(&unload),
        shell_quote(&load)
    )
}

/// What one step is in a guest-side shell loop.
#[derive(Debug, PartialEq, Eq)]
pub enum Form {
    /// This shell text.
    Shell(String),
    /// Nothing to run (a sleep of 0 ms).
    Nothing,
    /// The kind runs only from the host ([`crate::case::Runs::Host`]).
    Host,
    /// The kind can run in the guest's shell, but this guest's profile cannot do this step
    /// (no such module, no zones): the loop runs from the host, where the step fails.
    NotHere,
}

/// The shell form of `kind` as the `k`th (1-based) step of a loop. Every kind is named here:
/// one the table says runs in the guest's shell has a form, one it says runs on the host has
/// none (held to the table by a test).
pub fn form(kind: &StepKind, profile: &Profile, vendor: Vendor, k: usize) -> Form {
    let or_not = |s: Option<String>| s.map_or(Form::NotHere, Form::Shell);
    match kind {
        StepKind::Ssh { cmd, expect_status: Some(want) } => Form::Shell(checked(cmd, *want, k)),
        StepKind::Ssh { cmd, expect_status: None } => {
            Form::Shell(format!("( eval {} ) >/dev/null 2>&1", shell_quote(cmd)))
        }
        StepKind::ReloadModule(m) => or_not(profile.module(m).map(|m| reload(m, vendor))),
        StepKind::HaltZones(n) => or_not(profile.zones.as_ref().map(|z| checked(&z.halt_command(*n), 0, k))),
        StepKind::BootZones => or_not(profile.zones.as_ref().map(|z| checked(&z.boot_command(), 0, k))),
        StepKind::Sleep(j) if j.max_ms == 0 => Form::Nothing,
        StepKind::Sleep(j) => {
            let span = j.max_ms - j.min_ms + 1;
            Form::Shell(profile.sleep_ms.replace("{ms}", &format!("{} + (RANDOM * 32768 + RANDOM) % {span}", j.min_ms)))
        }
        StepKind::Qmp { .. }
        | StepKind::WaitConsole(_)
        | StepKind::WaitBoot
        | StepKind::Reboot(_)
        | StepKind::Background(_)
        | StepKind::Race(_)
        | StepKind::Repeat(_)
        | StepKind::CheckCpu => Form::Host,
    }
}

/// The script for repeating `steps` until the stop file exists; prints its report at the end.
/// `None` if a step cannot run as shell (QMP, reboots, nested blocks, ...).
pub fn loop_script(steps: &[Step], profile: &Profile, vendor: Vendor, id: u64, seed: u32) -> Option<String> {
    let mut body = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        match form(&s.kind, profile, vendor, i + 1) {
            Form::Shell(text) => body.push(text),
            Form::Nothing => {}
            Form::Host | Form::NotHere => return None,
        }
    }
    let (stop, f) = (stop_file(id), report_prefix(id));
    Some(format!(
        "F={f}; rm -f {stop} $F.*; nl='\n'; RANDOM={seed}; n=0; a=0; uo=0; ub=0; ua=0; uf=0; lo=0; lf=0; ro=0; cf=0; \
         msg() {{ [ -e $F.seen-$1 ] && return 0; : >$F.seen-$1; printf '{MSG_TAG} %s: %s\\n' \"$2\" \"${{3%%\"$nl\"*}}\" >>$F.msg; }}; \
         rep() {{ printf '{LOOP_TAG} rounds=%d attempted=%d unloads_ok=%d unloads_busy=%d unloads_absent=%d unloads_failed=%d loads_ok=%d \
         loads_failed=%d reloads_ok=%d commands_failed=%d\\n' $n $a $uo $ub $ua $uf $lo $lf $ro $cf >$F.counts; }}; \
         rep; while [ ! -e {stop} ]; do {}; n=$((n+1)); rep; done; rm -f {stop}; {}; rm -f $F.*",
        body.join("; "),
        report_command(id)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Runs;
    use crate::case::model::Jitter;
    use crate::engine::reloads::LoopReport;
    use crate::guest_os::linux::LINUX;
    use crate::profile::ModuleReload;

    fn step(kind: StepKind) -> Step {
        Step { kind, timeout_secs: None }
    }

    fn ssh(cmd: &str, expect_status: Option<u32>) -> Step {
        step(StepKind::Ssh { cmd: cmd.into(), expect_status })
    }

    #[test]
    fn reload_loop_becomes_one_script() {
        let steps = [step(StepKind::ReloadModule("vmm".into())), step(StepKind::Sleep(Jitter::new(5, 20)))];
        let s = loop_script(&steps, &LINUX, Vendor::Amd, 3, 42).unwrap();
        assert!(s.starts_with("F=/tmp/rig-loop-3; rm -f /tmp/rig-stop-3 $F.*; "), "{s}");
        assert!(s.contains("if m=$(eval 'rmmod kvm_amd' 2>&1); then uo=$((uo+1))"), "{s}");
        assert!(s.contains("if m=$(eval 'modprobe kvm_amd' 2>&1); then lo=$((lo+1))"), "{s}");
        assert!(s.contains("usleep $(( (5 + (RANDOM * 32768 + RANDOM) % 16) * 1000 ))"), "{s}");
        assert!(s.contains("while [ ! -e /tmp/rig-stop-3 ]; do "), "{s}");
        assert!(s.ends_with("cat /tmp/rig-loop-3.counts /tmp/rig-loop-3.msg 2>/dev/null; rm -f $F.*"), "{s}");
    }

    #[test]
    fn illumos_loops_use_its_own_commands() {
        let steps = [step(StepKind::ReloadModule("vmm".into())), step(StepKind::Sleep(Jitter::new(0, 200)))];
        let s = loop_script(&steps, &crate::guest_os::illumos::ILLUMOS, Vendor::Amd, 1, 7).unwrap();
        assert!(
            s.contains("[ -n \"$id\" ] || { echo '\\''vmm is not loaded'\\'' >&2; exit 1; }; modunload -i $id' 2>&1)"),
            "{s}"
        );
        assert!(s.contains("m=$(eval 'modload -p drv/vmm' 2>&1)"), "{s}");
        assert!(s.contains("case $m in *'Device busy'*) ub=$((ub+1)); msg busy busy \"$m\";; *'vmm is not loaded'*|*'Invalid argument'*) ua=$((ua+1)); msg absent absent \"$m\";; *) uf="), "{s}");
        assert!(
            s.contains(
                "ms=$(( 0 + (RANDOM * 32768 + RANDOM) % 201 )); sleep $((ms / 1000)).$(printf %03d $((ms % 1000)))"
            ),
            "{s}"
        );
        assert!(!s.contains("usleep"), "{s}");
    }

    /// The step kinds' table says where each kind runs; the shell form agrees, kind by kind
    /// (illumos has every module and zones, so only the kind decides).
    #[test]
    fn every_kind_has_the_shell_form_its_table_row_says() {
        for &k in crate::case::Kind::ALL {
            let raw: crate::case::kinds::RawStep = serde_norway::from_str(k.example()).unwrap();
            let s = Step::try_from(raw).unwrap();
            let f = form(&s.kind, &crate::guest_os::illumos::ILLUMOS, Vendor::Amd, 1);
            match k.runs() {
                Runs::GuestShell => assert!(matches!(f, Form::Shell(_)), "{}: {f:?}", k.key()),
                Runs::Host => assert_eq!(f, Form::Host, "{}", k.key()),
            }
        }
    }

    #[test]
    fn qmp_or_reboot_steps_stay_on_the_host() {
        let steps = [step(StepKind::Reboot(crate::case::RebootVia::Ssh))];
        assert!(loop_script(&steps, &LINUX, Vendor::Amd, 1, 1).is_none());
        let steps = [step(StepKind::ReloadModule("nonesuch".into()))];
        assert!(loop_script(&steps, &LINUX, Vendor::Amd, 1, 1).is_none());
    }

    /// A module whose unload is busy on odd rounds (the loop's own round counter `n`).
    const FLAKY: Profile = Profile {
        modules: &[ModuleReload {
            name: "m",
            unload: "[ $((n % 2)) -eq 0 ] || { echo \"can't unload the module: Device busy\" >&2; exit 16; }",
            busy: &["Device busy"],
            absent: &[],
            load: "true",
            free: "",
        }],
        ..LINUX
    };

    /// Runs a loop script in the host's `sh` (a real shell; the guests' are busybox ash and
    /// ksh93) and reads its report.
    fn run_in_sh(steps: &[Step], id: u64) -> (LoopReport, String) {
        let script = loop_script(steps, &FLAKY, Vendor::Amd, id, 1).unwrap();
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().expect("running sh");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        (LoopReport::parse(&text).unwrap_or_else(|| panic!("no report in {text:?}")), text)
    }

    #[test]
    fn a_loop_counts_its_reloads_and_failures_in_a_real_shell() {
        let id = 9_000_000 + u64::from(std::process::id());
        let stop = format!("[ $n -lt 3 ] || touch {}", stop_file(id));
        let steps = [
            step(StepKind::ReloadModule("m".into())),
            ssh(&stop, Some(0)),
            ssh("echo it ran # a comment ends only this command", Some(0)),
            ssh("echo 'unbalanced", Some(0)),
            ssh("exit 3", None),
            ssh("[ $n -ne 2 ] || { echo \"step five broke\"; echo second line; exit 1; }", Some(0)),
        ];
        let (r, text) = run_in_sh(&steps, id);
        assert_eq!(r.rounds, 4, "{text}");
        let c = &r.counts;
        assert_eq!((c.attempted, c.unloads_ok, c.unloads_busy, c.loads_ok, c.reloads_ok), (4, 2, 2, 4, 2), "{text}");
        assert_eq!((r.unloads_failed, r.loads_failed), (0, 0), "{text}");
        assert_eq!(r.commands_failed, 5, "step 4 fails every round, step 6 once: {text}");
        let kinds: Vec<&str> = r.messages.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["step 4", "busy", "step 6"], "{text}");
        assert_eq!(r.messages[1].1, "can't unload the module: Device busy");
        assert!(r.messages[0].1.starts_with("exit 2: "), "{text}");
        assert_eq!(r.messages[2].1, "exit 1: step five broke", "the first line only: {text}");
        assert!(!std::path::Path::new(&stop_file(id)).exists(), "the loop removes its stop file");
    }

    #[test]
    fn a_loop_report_can_be_read_while_it_runs() {
        assert_eq!(report_command(5), "cat /tmp/rig-loop-5.counts /tmp/rig-loop-5.msg 2>/dev/null");
    }
}
