//! The command line's fixed choices as clap value enums, mapped onto the library's types:
//! clap rejects anything else with the valid values listed, and exits 2.

use clap::ValueEnum;
use rig::dump::DumpFormat;
use rig::host::AccelChoice;

/// `--accel`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccelArg {
    /// Probe whether KVM really runs a guest (cached per host boot); fall back to TCG with a warning.
    Auto,
    /// KVM, or fail if it is unusable.
    Kvm,
    /// Emulate (TCG), no probe.
    Tcg,
}

impl From<AccelArg> for AccelChoice {
    fn from(a: AccelArg) -> Self {
        match a {
            AccelArg::Auto => AccelChoice::Auto,
            AccelArg::Kvm => AccelChoice::Kvm,
            AccelArg::Tcg => AccelChoice::Tcg,
        }
    }
}

/// `--dump-format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormatArg {
    /// kdump-compressed (zlib): small; `crash` reads it.
    #[value(alias = "kdump-zlib")]
    Kdump,
    /// ELF core: the guest's full memory size.
    Elf,
}

impl From<DumpFormatArg> for DumpFormat {
    fn from(f: DumpFormatArg) -> Self {
        match f {
            DumpFormatArg::Kdump => DumpFormat::KdumpZlib,
            DumpFormatArg::Elf => DumpFormat::Elf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_maps_to_what_its_name_parsed_to() {
        for a in AccelArg::value_variants() {
            let name = a.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(AccelChoice::from(*a), name.parse().unwrap());
        }
        for f in DumpFormatArg::value_variants() {
            let name = f.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(DumpFormat::from(*f), name.parse().unwrap());
        }
        assert_eq!(DumpFormatArg::from_str("kdump-zlib", false), Ok(DumpFormatArg::Kdump));
        assert_eq!(AccelArg::from_str("KVM", true), Ok(AccelArg::Kvm));
    }
}
