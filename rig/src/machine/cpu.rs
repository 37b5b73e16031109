//! The CPU model table: the names users type, the QEMU models behind them, and what the
//! guest must see for nested virtualization to be usable.

use std::fmt;

use super::spec::Accel;

/// Which hardware virtualization extension a CPU model offers the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// AMD: SVM, `kvm_amd`, vendor string `AuthenticAMD`.
    Amd,
    /// Intel: VMX, `kvm_intel`, vendor string `GenuineIntel`.
    Intel,
    /// Whatever the host is (`-cpu host`, KVM only).
    Host,
}

impl Vendor {
    /// The `/proc/cpuinfo` flag that shows nested virtualization to a Linux guest.
    pub fn virt_flag(self) -> Option<&'static str> {
        match self {
            Vendor::Amd => Some("svm"),
            Vendor::Intel => Some("vmx"),
            Vendor::Host => None,
        }
    }

    /// The CPUID vendor string a guest reads.
    pub fn vendor_id(self) -> Option<&'static str> {
        match self {
            Vendor::Amd => Some("AuthenticAMD"),
            Vendor::Intel => Some("GenuineIntel"),
            Vendor::Host => None,
        }
    }

    /// The Linux module that drives this vendor's virtualization extension.
    pub fn kvm_module(self) -> Option<&'static str> {
        match self {
            Vendor::Amd => Some("kvm_amd"),
            Vendor::Intel => Some("kvm_intel"),
            Vendor::Host => None,
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vendor::Amd => "AMD",
            Vendor::Intel => "Intel",
            Vendor::Host => "host",
        })
    }
}

/// One row of the CPU table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuModel {
    /// The name on the rig's command line (`--cpu epyc`).
    pub name: &'static str,
    /// QEMU's `-cpu` model.
    pub qemu_model: &'static str,
    /// Feature flags appended to the model to expose nested virtualization.
    pub nested_flags: &'static [&'static str],
    /// Whose virtualization extension the model carries.
    pub vendor: Vendor,
    /// A substring of the guest's `model name` that proves the model took effect.
    pub model_name_hint: &'static str,
    /// Only usable with KVM (`host`).
    pub kvm_only: bool,
    /// One line for `--help` and error messages.
    pub about: &'static str,
}

/// Every CPU model the rig knows. Extend the rig to a new model by adding a row.
pub const CPU_MODELS: &[CpuModel] = &[
    CpuModel {
        name: "epyc",
        qemu_model: "EPYC",
        nested_flags: &["svm", "npt", "nrip-save"],
        vendor: Vendor::Amd,
        model_name_hint: "EPYC",
        kvm_only: false,
        about: "AMD EPYC (Zen), SVM with nested paging",
    },
    CpuModel {
        name: "epyc-rome",
        qemu_model: "EPYC-Rome",
        nested_flags: &["svm", "npt", "nrip-save"],
        vendor: Vendor::Amd,
        model_name_hint: "EPYC",
        kvm_only: false,
        about: "AMD EPYC Rome (Zen 2), SVM with nested paging",
    },
    CpuModel {
        name: "epyc-milan",
        qemu_model: "EPYC-Milan",
        nested_flags: &["svm", "npt", "nrip-save"],
        vendor: Vendor::Amd,
        model_name_hint: "EPYC",
        kvm_only: false,
        about: "AMD EPYC Milan (Zen 3), SVM with nested paging",
    },
    CpuModel {
        name: "skylake",
        qemu_model: "Skylake-Server",
        nested_flags: &["vmx"],
        vendor: Vendor::Intel,
        model_name_hint: "Skylake",
        kvm_only: false,
        about: "Intel Xeon Skylake-SP, VMX (nesting needs KVM)",
    },
    CpuModel {
        name: "cascadelake",
        qemu_model: "Cascadelake-Server",
        nested_flags: &["vmx"],
        vendor: Vendor::Intel,
        model_name_hint: "Cascadelake",
        kvm_only: false,
        about: "Intel Xeon Cascade Lake, VMX (nesting needs KVM)",
    },
    CpuModel {
        name: "icelake",
        qemu_model: "Icelake-Server",
        nested_flags: &["vmx"],
        vendor: Vendor::Intel,
        model_name_hint: "Icelake",
        kvm_only: false,
        about: "Intel Xeon Ice Lake, VMX (nesting needs KVM)",
    },
    CpuModel {
        name: "host",
        qemu_model: "host",
        nested_flags: &[],
        vendor: Vendor::Host,
        model_name_hint: "",
        kvm_only: true,
        about: "the host's own CPU (KVM only)",
    },
];

/// An unknown CPU model name; the message lists the valid ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown CPU model '{name}'; valid models: {}", valid_names().join(", "))]
pub struct UnknownCpu {
    /// What the user typed.
    pub name: String,
}

/// The names of all known models, in table order.
pub fn valid_names() -> Vec<&'static str> {
    CPU_MODELS.iter().map(|m| m.name).collect()
}

/// Finds a model by its rig name (case-insensitive; QEMU's own name is accepted too).
pub fn lookup(name: &str) -> Result<&'static CpuModel, UnknownCpu> {
    let name = name.trim();
    CPU_MODELS
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name) || m.qemu_model.eq_ignore_ascii_case(name))
        .ok_or_else(|| UnknownCpu { name: name.to_string() })
}

/// Parses `--cpu epyc,cascadelake` into a list of models (a matrix). Duplicates are dropped.
pub fn parse_list(list: &str) -> Result<Vec<&'static CpuModel>, UnknownCpu> {
    let mut out: Vec<&'static CpuModel> = Vec::new();
    for name in list.split(',').filter(|s| !s.trim().is_empty()) {
        let m = lookup(name)?;
        if !out.iter().any(|o| o.name == m.name) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(UnknownCpu { name: list.to_string() });
    }
    Ok(out)
}

impl CpuModel {
    /// The `-cpu` argument: the model plus the nested flags when `nested` is asked, or minus
    /// the virtualization extension when `hide` is (some models, e.g. `EPYC`, carry SVM by
    /// default; a guest that sees none cannot attach its hypervisor module, which keeps that
    /// module free to unload).
    pub fn qemu_arg(&self, nested: bool, hide: bool) -> String {
        let mut arg = self.qemu_model.to_string();
        if hide {
            let flags = match self.vendor.virt_flag() {
                Some(f) => vec![f],
                None => vec!["svm", "vmx"],
            };
            for f in flags {
                arg.push_str(",-");
                arg.push_str(f);
            }
        } else if nested {
            for f in self.nested_flags {
                arg.push_str(",+");
                arg.push_str(f);
            }
        }
        arg
    }

    /// Why this model cannot run here under `accel` (with nesting when `nested`), if it
    /// cannot. Pure.
    pub fn skip_reason(&self, nested: bool, accel: Accel) -> Option<String> {
        if accel == Accel::Tcg && self.kvm_only {
            return Some(format!("skipped: needs KVM (CPU model '{}' exists only under KVM)", self.name));
        }
        if accel == Accel::Tcg && nested && self.vendor == Vendor::Intel {
            return Some(format!(
                "skipped: needs KVM (TCG does not emulate Intel VMX, so '{}' cannot nest)",
                self.name
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_takes_qemu_names() {
        assert_eq!(lookup("EPYC").unwrap().name, "epyc");
        assert_eq!(lookup("Cascadelake-Server").unwrap().name, "cascadelake");
        assert_eq!(lookup(" epyc-milan ").unwrap().qemu_model, "EPYC-Milan");
    }

    #[test]
    fn unknown_model_lists_valid_ones() {
        let e = lookup("pentium").unwrap_err().to_string();
        assert!(e.contains("unknown CPU model 'pentium'"), "{e}");
        for m in CPU_MODELS {
            assert!(e.contains(m.name), "{e} lacks {}", m.name);
        }
    }

    #[test]
    fn list_parses_matrix_and_drops_duplicates() {
        let l = parse_list("epyc,cascadelake,EPYC").unwrap();
        assert_eq!(l.iter().map(|m| m.name).collect::<Vec<_>>(), ["epyc", "cascadelake"]);
        assert!(parse_list("epyc,bogus").is_err());
        assert!(parse_list(",").is_err());
    }

    #[test]
    fn nested_flags_are_appended() {
        let epyc = lookup("epyc").unwrap();
        assert_eq!(epyc.qemu_arg(true, false), "EPYC,+svm,+npt,+nrip-save");
        assert_eq!(epyc.qemu_arg(false, false), "EPYC");
        assert_eq!(epyc.qemu_arg(false, true), "EPYC,-svm");
        assert_eq!(lookup("icelake").unwrap().qemu_arg(true, false), "Icelake-Server,+vmx");
        assert_eq!(lookup("icelake").unwrap().qemu_arg(false, true), "Icelake-Server,-vmx");
        assert_eq!(lookup("host").unwrap().qemu_arg(false, true), "host,-svm,-vmx");
    }

    #[test]
    fn intel_nesting_under_tcg_is_skipped() {
        let why = lookup("cascadelake").unwrap().skip_reason(true, Accel::Tcg).unwrap();
        assert!(why.starts_with("skipped: needs KVM"), "{why}");
        assert!(lookup("cascadelake").unwrap().skip_reason(false, Accel::Tcg).is_none());
        assert!(lookup("cascadelake").unwrap().skip_reason(true, Accel::Kvm).is_none());
        assert!(lookup("epyc").unwrap().skip_reason(true, Accel::Tcg).is_none());
        assert!(lookup("host").unwrap().skip_reason(false, Accel::Tcg).is_some());
    }

    #[test]
    fn table_names_are_unique_and_vendors_consistent() {
        let mut names = valid_names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CPU_MODELS.len());
        for m in CPU_MODELS {
            if let Some(flag) = m.vendor.virt_flag() {
                assert!(m.nested_flags.contains(&flag), "{} lacks +{flag}", m.name);
            }
        }
    }
}
