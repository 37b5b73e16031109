//! Once per boot, before a case's setup: the module switches the case asks for, and a check
//! that the guest sees the virtualization extension the case needs (`nested: true`) or does
//! not see the one it hides (`hide_virt: true`). A guest that cannot run the case becomes an
//! `infra` verdict quoting what it printed, instead of a long run that tests nothing. Refusals
//! are read off the console and out of the system log (over SSH): current illumos logs hma's
//! refusal only, older platforms printed it on the console.
//! The findings go to `preflight.txt` in the boot's directory.

use std::path::Path;
use std::time::Duration;

use crate::case::Case;
use crate::console::{ConsoleLine, Pattern};
use crate::guest::GuestLink;
use crate::machine::CpuModel;
use crate::profile::Profile;

/// What the guest showed, and why it cannot run the case (if it cannot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtCheck {
    /// One line per fact looked at.
    pub findings: Vec<String>,
    /// Why the case cannot run on this guest.
    pub problem: Option<String>,
}

/// Judges the guest's CPU features (`flags`, the profile's `virt_flags_command` output) and the
/// console's refusal lines against what the case asks. Pure.
/// `flag` is the word the guest uses for the CPU's extension (`None` for a host CPU model).
pub fn check_virt(
    flag: Option<&str>,
    nested: bool,
    hide_virt: bool,
    command: &str,
    flags: &str,
    refusals: &[String],
) -> VirtCheck {
    let mut v = VirtCheck::default();
    for r in refusals {
        v.findings.push(format!("refused: {r}"));
    }
    let Some(flag) = flag else {
        v.findings.push("no virtualization flag to check for a host CPU model".into());
        return v;
    };
    let seen = flags.split(|c: char| c.is_whitespace() || c == ',').any(|w| w == flag);
    v.findings.push(format!("`{command}`: {flag} {}", if seen { "present" } else { "absent" }));
    if nested && !seen {
        v.problem = Some(format!(
            "the case needs {flag} in the guest (nested: true) but `{command}` shows none: the host or the CPU model \
             does not pass it through"
        ));
    } else if nested && let Some(r) = refusals.first() {
        v.problem = Some(format!("the case needs {flag} in the guest (nested: true) but the guest refuses it: '{r}'"));
    } else if hide_virt && seen {
        v.problem = Some(format!("the case hides {flag} (hide_virt: true) but `{command}` still shows it"));
    }
    v
}

/// The refusal lines among `lines` (the first capture group of the profile's pattern).
pub fn refusals(profile: &Profile, lines: &[ConsoleLine]) -> Vec<String> {
    refusals_in(profile, lines.iter().map(|l| l.text.as_str()))
}

/// The refusals in any text lines (the console's, the system log's), each once.
pub fn refusals_in<'a>(profile: &Profile, lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let Ok(p) = Pattern::regex(profile.virt_refusal) else { return Vec::new() };
    let mut found: Vec<String> = Vec::new();
    for r in lines.filter_map(|l| p.find(l)) {
        if !found.contains(&r) {
            found.push(r);
        }
    }
    found
}

/// Runs the case's module switches and the virtualization check on a ready guest. `boot_lines`
/// is the console of this boot so far. Returns the reason the case cannot run, if it cannot.
pub async fn run(
    link: &GuestLink,
    c: &Case,
    cpu: &CpuModel,
    boot_lines: &[ConsoleLine],
    dir: &Path,
) -> Result<(), String> {
    let profile = link.profile().clone();
    let mut findings = Vec::new();
    let mut switches: Vec<(String, &str)> = Vec::new();
    for m in &c.modules.free {
        if let Some(r) = profile.module(m).filter(|r| !r.free.is_empty()) {
            switches.push((format!("modules.free {m}"), r.free));
        }
    }
    if c.modules.debug {
        switches.push(("modules.debug".into(), profile.module_debug));
    }
    for (what, cmd) in switches {
        match link.run(cmd, Duration::from_secs(30)).await {
            Ok(out) => findings.push(format!("{what}: `{cmd}`: ok {}", out.trim())),
            Err(e) => {
                let reason = format!("preflight: {what}: `{cmd}` failed: {e:#}");
                findings.push(reason.clone());
                write(dir, &findings);
                return Err(reason);
            }
        }
    }
    let flags = match link.run(profile.virt_flags_command, Duration::from_secs(30)).await {
        Ok(out) => out,
        Err(e) => {
            let reason = format!("preflight: `{}` failed: {e:#}", profile.virt_flags_command);
            findings.push(reason.clone());
            write(dir, &findings);
            return Err(reason);
        }
    };
    let mut refused = refusals(&profile, boot_lines);
    match link.run(profile.virt_log_command, Duration::from_secs(30)).await {
        Ok(log) => {
            for r in refusals_in(&profile, log.lines()) {
                findings.push(format!("system log (`{}`): {r}", profile.virt_log_command));
                if !refused.contains(&r) {
                    refused.push(r);
                }
            }
        }
        Err(e) => findings.push(format!("`{}` failed: {e:#}", profile.virt_log_command)),
    }
    let v = check_virt(
        profile.virt_flag(cpu.vendor),
        c.guest.nested,
        c.guest.hide_virt,
        profile.virt_flags_command,
        &flags,
        &refused,
    );
    findings.extend(v.findings);
    findings.push(format!("`{}` printed:\n{}", profile.virt_flags_command, flags.trim_end()));
    write(dir, &findings);
    match v.problem {
        Some(p) => Err(format!("preflight: {p} (evidence: {})", dir.join("preflight.txt").display())),
        None => Ok(()),
    }
}

fn write(dir: &Path, findings: &[String]) {
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join("preflight.txt"), findings.join("\n") + "\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_os::illumos::ILLUMOS;
    use crate::guest_os::linux::LINUX;

    const ISAINFO_SVM: &str =
        "64-bit amd64 applications\n\tamd_svm amd_lzcnt popcnt amd_sse4a tscp ahf cx16 sse3 sse2 sse\n";
    const ISAINFO_PLAIN: &str = "64-bit amd64 applications\n\tamd_lzcnt popcnt amd_sse4a tscp ahf cx16 sse3 sse2 sse\n";

    #[test]
    fn nested_needs_the_flag_and_no_refusal() {
        let epyc = Some("amd_svm");
        let ok = check_virt(epyc, true, false, "isainfo -v", ISAINFO_SVM, &[]);
        assert_eq!(ok.problem, None, "{ok:?}");
        assert!(ok.findings[0].contains("amd_svm present"), "{ok:?}");

        let missing = check_virt(epyc, true, false, "isainfo -v", ISAINFO_PLAIN, &[]);
        assert!(missing.problem.unwrap().contains("needs amd_svm"));

        let refused = "hma_svm_init: CPU does not support nested paging".to_string();
        let v = check_virt(epyc, true, false, "isainfo -v", ISAINFO_SVM, &[refused]);
        assert!(v.problem.unwrap().contains("'hma_svm_init: CPU does not support nested paging'"));
    }

    #[test]
    fn hidden_virtualization_must_be_hidden() {
        let epyc = Some("amd_svm");
        let hidden = "hma_svm_init: CPU does not support SVM".to_string();
        let v = check_virt(epyc, false, true, "isainfo -v", ISAINFO_PLAIN, std::slice::from_ref(&hidden));
        assert_eq!(v.problem, None, "an expected refusal is only a finding: {v:?}");
        assert!(v.findings.iter().any(|f| f.contains(&hidden)));
        assert!(check_virt(epyc, false, true, "isainfo -v", ISAINFO_SVM, &[]).problem.unwrap().contains("hide_virt"));
        // Neither asked: whatever the guest sees is fine.
        assert_eq!(check_virt(epyc, false, false, "isainfo -v", ISAINFO_SVM, &[]).problem, None);
    }

    #[test]
    fn linux_flags_and_intel() {
        let line = "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr vmx sse2";
        assert_eq!(check_virt(Some("vmx"), true, false, "grep", line, &[]).problem, None);
        assert!(check_virt(Some("svm"), true, false, "grep", line, &[]).problem.is_some());
        // `svm` inside another word does not count.
        assert!(check_virt(Some("svm"), true, false, "grep", "flags: nosvm svmx amd_svm", &[]).problem.is_some());
        assert_eq!(LINUX.virt_flag(crate::machine::Vendor::Amd), Some("svm"));
        assert_eq!(ILLUMOS.virt_flag(crate::machine::Vendor::Amd), Some("amd_svm"));
        assert_eq!(ILLUMOS.virt_flag(crate::machine::Vendor::Host), None);
    }

    #[test]
    fn refusal_patterns() {
        let lines: Vec<ConsoleLine> = [
            "SunOS Release 5.11 Version joyent_20181206T011455Z 64-bit",
            "hma_svm_init: CPU does not support SVM",
            "NOTICE: vmm: hma_register failed",
        ]
        .iter()
        .map(|t| ConsoleLine { t: Duration::ZERO, text: t.to_string() })
        .collect();
        assert_eq!(refusals(&ILLUMOS, &lines), ["hma_svm_init: CPU does not support SVM"]);
        // The system log's form (current platforms log it only), and the old console NOTICE.
        let log = "Nov 29 22:30:01 headnode genunix: [ID 195391 kern.notice] NOTICE: hma_svm_init: CPU does not \
                   support NRIP save\nNOTICE: hma_svm_init: CPU does not support NRIP save\n";
        assert_eq!(refusals_in(&ILLUMOS, log.lines()), ["hma_svm_init: CPU does not support NRIP save"]);
        let linux = [ConsoleLine { t: Duration::ZERO, text: "kvm_amd: SVM not supported by CPU 0".into() }];
        assert_eq!(refusals(&LINUX, &linux), ["kvm_amd: SVM not supported by CPU 0"]);
        assert!(refusals(&LINUX, &lines).is_empty());
    }
}
