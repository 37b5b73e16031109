//! What the guest says about its CPU (`/proc/cpuinfo`), checked against what was asked:
//! vendor, model name and the nested-virtualization flag. Pure, tested on text.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::machine::{CpuModel, Vendor};

/// The parts of `/proc/cpuinfo` the rig checks (first processor).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuIdentity {
    /// `vendor_id`, e.g. `AuthenticAMD`.
    pub vendor_id: String,
    /// `model name`.
    pub model_name: String,
    /// `flags`.
    pub flags: BTreeSet<String>,
    /// Number of `processor` entries.
    pub cpus: usize,
}

/// Parses `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> CpuIdentity {
    let mut id = CpuIdentity::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => id.cpus += 1,
            "vendor_id" if id.vendor_id.is_empty() => id.vendor_id = v.to_string(),
            "model name" if id.model_name.is_empty() => id.model_name = v.to_string(),
            "flags" if id.flags.is_empty() => id.flags = v.split_whitespace().map(String::from).collect(),
            _ => {}
        }
    }
    id
}

/// The verdict of the CPU check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuCheck {
    /// Everything asked for is there.
    pub ok: bool,
    /// One line per thing checked, `ok:` or `MISMATCH:` first.
    pub findings: Vec<String>,
}

/// Checks the guest's identity against the model (and the nested flag when `nested`).
pub fn check(model: &CpuModel, nested: bool, id: &CpuIdentity) -> CpuCheck {
    let mut findings = Vec::new();
    let mut ok = true;
    let mut note = |good: bool, what: String| {
        ok &= good;
        findings.push(format!("{}: {what}", if good { "ok" } else { "MISMATCH" }));
    };
    if let Some(want) = model.vendor.vendor_id() {
        note(id.vendor_id == want, format!("vendor {} (want {want})", id.vendor_id));
    }
    if !model.model_name_hint.is_empty() {
        let good = id.model_name.contains(model.model_name_hint);
        note(good, format!("model name '{}' (want '{}')", id.model_name, model.model_name_hint));
    }
    if nested && let Some(flag) = model.vendor.virt_flag() {
        note(
            id.flags.contains(flag),
            format!("flag {flag} {}", if id.flags.contains(flag) { "present" } else { "absent" }),
        );
    }
    if model.vendor == Vendor::Host {
        note(true, format!("host CPU: {} {}", id.vendor_id, id.model_name));
    }
    CpuCheck { ok, findings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::lookup;

    const EPYC: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel name\t: AMD EPYC Processor\n\
flags\t\t: fpu vme de pse svm npt nrip_save\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC Processor\nflags\t\t: fpu svm\n";

    #[test]
    fn parses_first_cpu_and_counts() {
        let id = parse_cpuinfo(EPYC);
        assert_eq!(id.vendor_id, "AuthenticAMD");
        assert_eq!(id.model_name, "AMD EPYC Processor");
        assert!(id.flags.contains("svm"));
        assert_eq!(id.cpus, 2);
    }

    #[test]
    fn epyc_with_svm_passes() {
        let c = check(lookup("epyc").unwrap(), true, &parse_cpuinfo(EPYC));
        assert!(c.ok, "{:?}", c.findings);
        assert!(c.findings.iter().any(|f| f == "ok: flag svm present"));
    }

    #[test]
    fn intel_without_vmx_is_a_mismatch() {
        let text =
            "processor: 0\nvendor_id: GenuineIntel\nmodel name: Intel Xeon Processor (Cascadelake)\nflags: fpu sse\n";
        let c = check(lookup("cascadelake").unwrap(), true, &parse_cpuinfo(text));
        assert!(!c.ok);
        assert!(c.findings.contains(&"MISMATCH: flag vmx absent".to_string()), "{:?}", c.findings);
        // Without nesting asked, the flag is not checked.
        assert!(check(lookup("cascadelake").unwrap(), false, &parse_cpuinfo(text)).ok);
    }

    #[test]
    fn wrong_vendor_is_a_mismatch() {
        let c = check(lookup("skylake").unwrap(), false, &parse_cpuinfo(EPYC));
        assert!(!c.ok);
        assert!(c.findings[0].starts_with("MISMATCH: vendor AuthenticAMD"));
    }
}
