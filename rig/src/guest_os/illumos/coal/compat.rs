//! Whether a platform can mount a key, decided before any boot from the key's layout and the
//! platform's stamp.
//!
//! A platform finds its USB key in `fs-joyent` at boot. Up to the GRUB era that script probes
//! only the first MBR partition of each disk (`p0:1`, then `p1`; smartos-live
//! `overlay/generic/lib/svc/method/fs-joyent`). The 2019 `usb-key.sh` (smartos-live
//! `overlay/generic/lib/sdc/usb-key.sh`) tells a GRUB key (version 1, root at `p1`) from a
//! loader key (version 2, root at slice `s2`, the third GPT partition) and mounts either. So a
//! newer platform mounts both eras, and a platform older than the loader keys mounts only a
//! GRUB-era key.
//!
//! When the two do not fit the rig refuses, naming both stamps and what to bring. It does not
//! convert: a GRUB-era key needs GRUB's stage1 in the MBR and its stage2 on the pcfs
//! (sdc-headnode shipped `boot/grub/stage2` itself), which a loader-era key does not carry and
//! the rig cannot make, so a converted key would not boot.

/// The first platform stamp taken to mount a loader-era (GPT) key. **Assumed**: the day
/// sdc-headnode 252de200 (OS-7260) moved the key to loader; the smartos-live commit that taught
/// the platform version-2 keys was not located (`usb-key.sh` carries a 2019 copyright).
pub const GPT_KEYS_FROM: &str = "20190403T000000Z";

/// A platform that cannot mount the key it would boot from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "platform {platform} cannot mount this key: {key} (made with platform {key_platform}); platforms before \
     {from} look for the key's pcfs only on the first MBR partition (fs-joyent), so the boot would stop with no \
     USB key found. Bring a GRUB-era coal (built before 2019-04, a coal-<stamp>-4gb.tgz with boot/grub/menu.lst) \
     for platform {platform}, or a platform stamped {from} or later for this key"
)]
pub struct Unmountable {
    /// The platform that would boot.
    pub platform: String,
    /// The key's newest own platform.
    pub key_platform: String,
    /// The key, described (`loader era key (GPT, pcfs root on partition 3, ...)`).
    pub key: String,
    /// [`GPT_KEYS_FROM`].
    pub from: &'static str,
}

/// Checks that `platform` can mount a key of `shape` whose own newest platform is
/// `key_platform`. Stamps compare as strings (`YYYYMMDDTHHMMSSZ`).
pub fn check(shape: &super::era::KeyShape, platform: &str, key_platform: &str) -> Result<(), Unmountable> {
    if shape.root_at_mbr_partition_1() || platform >= GPT_KEYS_FROM {
        return Ok(());
    }
    Err(Unmountable {
        platform: platform.to_string(),
        key_platform: key_platform.to_string(),
        key: shape.describe(),
        from: GPT_KEYS_FROM,
    })
}

#[cfg(test)]
mod tests {
    use super::super::era::{BootConfig, KeyShape, Table};
    use super::*;

    #[test]
    fn a_2018_platform_mounts_only_an_mbr_first_partition() {
        let grub = KeyShape { table: Table::Mbr, root_partition: 1, boot: BootConfig::GrubMenu };
        let loader = KeyShape { table: Table::Gpt, root_partition: 3, boot: BootConfig::LoaderConf };
        check(&grub, "20181206T011455Z", "20181129T002502Z").unwrap();
        check(&grub, "20240101T000000Z", "20181129T002502Z").unwrap();
        check(&loader, "20230105T000000Z", "20230105T000000Z").unwrap();
        check(&loader, "20190403T000000Z", "20230105T000000Z").unwrap();
        let e = check(&loader, "20181206T011455Z", "20230105T000000Z").unwrap_err().to_string();
        assert!(e.starts_with("platform 20181206T011455Z cannot mount this key: loader era key (GPT"), "{e}");
        assert!(e.contains("(made with platform 20230105T000000Z)"), "{e}");
        assert!(e.contains("Bring a GRUB-era coal"), "{e}");
    }
}
