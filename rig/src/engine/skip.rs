//! Why a case cannot run on a CPU model here. Pure.

use crate::case::VendorReq;
use crate::machine::{Accel, CpuModel, Vendor};

/// Why a case cannot run on a CPU model here, if it cannot. Pure.
pub fn skip_reason(req: VendorReq, nested: bool, cpu: &CpuModel, accel: Accel) -> Option<String> {
    let vendor_ok = match req {
        VendorReq::Any => true,
        VendorReq::Amd => cpu.vendor == Vendor::Amd,
        VendorReq::Intel => cpu.vendor == Vendor::Intel,
    };
    if !vendor_ok {
        return Some(format!("skipped: the case needs an {req:?} CPU model, '{}' is {}", cpu.name, cpu.vendor));
    }
    cpu.skip_reason(nested, accel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::lookup;

    #[test]
    fn vendor_requirements_skip() {
        let why = skip_reason(VendorReq::Amd, false, lookup("cascadelake").unwrap(), Accel::Kvm).unwrap();
        assert!(why.contains("needs an Amd CPU model"), "{why}");
        assert!(skip_reason(VendorReq::Amd, true, lookup("epyc").unwrap(), Accel::Tcg).is_none());
        assert!(
            skip_reason(VendorReq::Any, true, lookup("icelake").unwrap(), Accel::Tcg).unwrap().contains("needs KVM")
        );
    }
}
