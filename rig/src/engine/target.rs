//! What a case boots: the embedded Linux images, or a prepared SmartOS coal headnode. Each
//! gives the machine, the SSH keys, the guest profile and which crash reader fits its console.

use std::path::Path;

use anyhow::{Result, bail};

use crate::case::Case;
use crate::coal::CoalImage;
use crate::crash::Os;
use crate::guest::SshKeys;
use crate::image::LinuxImage;
use crate::machine::{Accel, CpuModel, MachineSpec};
use crate::profile::{self, Profile};

/// A set-up guest state, by the shape of the machine it was saved from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupSnapshot {
    /// The `savevm` tag.
    pub tag: String,
    /// Already saved: the machine starts from it (`-loadvm`), so there is no boot to watch.
    pub saved: bool,
}

/// The set-up states saved so far, read from `coal.json` afresh: a run saves one while the
/// image it loaded at its start is still in use.
fn saved_setups(coal: &CoalImage) -> Vec<String> {
    CoalImage::load(&coal.dir)
        .map(|c| c.manifest.setup_snapshots)
        .unwrap_or_else(|_| coal.manifest.setup_snapshots.clone())
}

fn setup_tag(c: &Case, cpu: &CpuModel, accel: Accel) -> String {
    let virt = if c.guest.hide_virt {
        "hidden"
    } else if c.guest.nested {
        "nested"
    } else {
        "plain"
    };
    crate::coal::setup::setup_tag(cpu.name, virt, c.guest.memory_mib, c.guest.vcpus, accel.as_str())
}

/// A bootable guest image.
// One per case × CPU × image of a run: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Target {
    /// A Linux image built from Debian packages (direct kernel boot).
    Linux(LinuxImage),
    /// A prepared coal headnode (USB image boot).
    Coal(Box<CoalImage>),
}

impl Target {
    /// Finds (or builds, for Linux images) the image a case names.
    pub async fn load(build_dir: &Path, name: &str) -> Result<Target> {
        if profile::for_image(name).is_some_and(|p| p.name == "illumos") {
            // `coal` is the newest prepared headnode; `coal-<key>` names one (its directory).
            if name != "coal" {
                let dir = build_dir.join("images").join(name);
                return match CoalImage::load(&dir) {
                    Ok(c) => Ok(Target::Coal(Box::new(c))),
                    Err(e) => bail!(
                        "image '{name}': {e:#}; the prepared coal images are in {} (`cargo xtask image coal --from \
                         coal-latest.tgz` prepares one)",
                        build_dir.join("images").display()
                    ),
                };
            }
            let dir = build_dir.to_path_buf();
            let prepared = tokio::task::spawn_blocking(move || crate::coal::prepared(&dir)).await?;
            return match prepared.into_iter().next() {
                Some(c) => Ok(Target::Coal(Box::new(c))),
                None => bail!(
                    "image '{name}' is not prepared: get one with `cargo xtask image coal --from coal-latest.tgz`"
                ),
            };
        }
        let (dir, n) = (build_dir.to_path_buf(), name.to_string());
        Ok(Target::Linux(tokio::task::spawn_blocking(move || crate::image::ensure_image(&dir, &n)).await??))
    }

    /// The machine for `case` on `cpu`.
    pub fn machine(&self, c: &Case, cpu: &'static CpuModel, accel: Accel) -> Result<MachineSpec> {
        let mut spec = match self {
            Target::Linux(image) => image.machine(cpu, accel, c.guest.memory_mib, c.guest.vcpus, &c.guest.kernel_args),
            Target::Coal(coal) => {
                let min = crate::coal::machine::MIN_MEMORY_MIB;
                if c.guest.memory_mib < min {
                    bail!("a coal headnode needs at least {min} MiB; the case asks for {}", c.guest.memory_mib);
                }
                let mut spec = coal.machine(cpu, accel, c.guest.memory_mib, c.guest.vcpus);
                // A set-up headnode of this shape was saved: start from it, not 10-20 minutes of setup.
                let tag = setup_tag(c, cpu, accel);
                if saved_setups(coal).contains(&tag) {
                    spec.extra_args.extend(["-loadvm".to_string(), tag]);
                }
                spec
            }
        };
        spec.nested = c.guest.nested;
        spec.hide_virt = c.guest.hide_virt;
        Ok(spec)
    }

    /// The set-up state a machine for `c` on `cpu` starts from or should be saved as: coal's
    /// setup takes 10-20 minutes, so it is done once per machine shape. `None` for Linux.
    pub fn setup_snapshot(&self, c: &Case, cpu: &CpuModel, accel: Accel) -> Option<SetupSnapshot> {
        let Target::Coal(coal) = self else { return None };
        let tag = setup_tag(c, cpu, accel);
        let saved = saved_setups(coal).contains(&tag);
        Some(SetupSnapshot { tag, saved })
    }

    /// Records a saved set-up state, so later runs start from it.
    pub fn record_setup_snapshot(&self, tag: &str) -> Result<()> {
        if let Target::Coal(c) = self {
            let mut fresh = CoalImage::load(&c.dir)?;
            fresh.update_manifest(|m| {
                if !m.setup_snapshots.iter().any(|t| t == tag) {
                    m.setup_snapshots.push(tag.to_string());
                }
            })?;
        }
        Ok(())
    }

    /// Several guests may run this image at once (coal's disks are one set of files: no).
    pub fn parallel_ok(&self) -> bool {
        matches!(self, Target::Linux(_))
    }

    /// [`Target::parallel_ok`] of the image `name` would load as, without loading it.
    pub fn parallel_ok_for(name: &str) -> bool {
        profile::for_image(name).is_none_or(|p| p.name != "illumos")
    }

    /// How the rig logs in. Coal's host key is made at its first boot: until then it is trusted
    /// on first use and pinned in the image directory.
    pub fn keys(&self) -> SshKeys {
        match self {
            Target::Linux(i) => i.ssh_keys(),
            Target::Coal(c) => SshKeys {
                client_key: c.client_key.clone(),
                host_key: c.host_key.clone().unwrap_or_else(|| c.dir.join("host_key.pub")),
            },
        }
    }

    /// The guest profile.
    pub fn profile(&self, image_name: &str) -> Profile {
        match self {
            Target::Linux(_) => profile::for_image(image_name).cloned().unwrap_or(profile::LINUX),
            Target::Coal(_) => profile::ILLUMOS,
        }
    }

    /// Which crash reader reads its console.
    pub fn os(&self) -> Os {
        match self {
            Target::Linux(_) => Os::Linux,
            Target::Coal(_) => Os::Illumos,
        }
    }
}
