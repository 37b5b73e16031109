//! Nested-virtualization preflight on a KVM host: is the host's kvm_amd/kvm_intel willing
//! to run a hypervisor inside the guest?

use std::path::Path;

use crate::machine::Vendor;

/// Parses a `nested` module parameter (`1`, `Y`, `0`, `N`).
pub fn parse_nested(value: &str) -> bool {
    matches!(value.trim(), "1" | "Y" | "y")
}

/// Checks the host's nested setting for `vendor` under `sys` (normally `/sys`).
/// `Ok(())` when nesting is on; otherwise the error says how to turn it on.
pub fn check(sys: &Path, vendor: Vendor) -> Result<(), String> {
    let Some(module) = vendor.kvm_module() else { return Ok(()) };
    let param = sys.join("module").join(module).join("parameters/nested");
    match std::fs::read_to_string(&param) {
        Ok(v) if parse_nested(&v) => Ok(()),
        Ok(v) => Err(format!(
            "nested virtualization is off on this host ({} = {}); turn it on with \
             `modprobe -r {module} && modprobe {module} nested=1` (and `options {module} nested=1` \
             in /etc/modprobe.d/ to keep it), or run a case without `nested: true`",
            param.display(),
            v.trim()
        )),
        Err(_) => Err(format!(
            "{module} is not loaded on this host ({} is missing), so a {vendor} CPU model cannot nest under KVM; \
             load it with `modprobe {module} nested=1`, pick a CPU model of the host's vendor, or run a case without `nested: true`",
            param.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        assert!(parse_nested("1\n"));
        assert!(parse_nested("Y"));
        assert!(!parse_nested("0"));
        assert!(!parse_nested("N\n"));
    }

    #[test]
    fn reads_sysfs_and_explains() {
        let sys = std::env::temp_dir().join(format!("rig-nested-{}", std::process::id()));
        let dir = sys.join("module/kvm_amd/parameters");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nested"), "1\n").unwrap();
        assert!(check(&sys, Vendor::Amd).is_ok());
        std::fs::write(dir.join("nested"), "0\n").unwrap();
        let e = check(&sys, Vendor::Amd).unwrap_err();
        assert!(e.contains("nested=1"), "{e}");
        let e = check(&sys, Vendor::Intel).unwrap_err();
        assert!(e.contains("kvm_intel is not loaded"), "{e}");
        // The way out it names exists: a case's `nested:` (there is no --no-nested flag).
        assert!(e.contains("a case without `nested: true`") && !e.contains("--no-nested"), "{e}");
        assert!(check(&sys, Vendor::Host).is_ok());
        let _ = std::fs::remove_dir_all(&sys);
    }
}
