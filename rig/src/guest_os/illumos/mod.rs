//! SmartOS coal headnodes (illumos): prepared USB images booted from disk. Their first boot
//! runs setup for 10-20 minutes, so a set-up headnode is saved per machine shape; after a
//! panic the guest writes its own dump, which savecore and mdb triage in the guest; a kernel
//! with kmdb loaded is kept from stopping at the debugger ([`kmdb`]).

pub mod coal;
mod crash;
pub mod kmdb;
mod make;

pub use crash::Illumos as IllumosDialect;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use async_trait::async_trait;
use tokio::time::Instant;

use super::{GuestOs, ImageInput, PanicWatch, SetupSnapshot, Stage, Target, never_ready};
use crate::console::stall::StallDialects;
use crate::crash::Dialect;
use crate::guest::{Guest, GuestLink};
use crate::guest_os::illumos::coal::CoalImage;
use crate::guest_os::illumos::coal::savecore::{CRASH_DIR, SAVECORE_WAIT_SECS, newest_dump_command, triage_command};
use crate::machine::{Accel, CpuModel, MachineSpec, Shape, Vendor};
use crate::profile::{ModuleReload, Profile, Ready, ZoneCommands};
use crate::ssh::SshKeys;

/// How long mdb may take over a dump in the guest.
const MDB_TIMEOUT: Duration = Duration::from_secs(600);

// `nopanicdebug` is a kernel variable (illumos-gate `usr/src/uts/common/os/panic.c`), not a
// boot property: with kmdb loaded every panic stops at `[N]>` unless it is set at run time.
/// Run after each fresh boot.
pub const NO_PANIC_DEBUGGER: &str = "echo 'nopanicdebug/W 1' | mdb -kw";

/// A SmartOS (illumos) guest, from `../shared/docs/smartos-coal.md`. vmm's module id changes
/// with every load, so the unload looks it up with `modinfo` first.
///
/// Readiness: the serial login prompt (on ttyb, without a line end), then SSH; the boot's
/// identity is its boot time from `kstat`, read over SSH. coal's setup boot prints the prompt
/// *before* setup's lines, so it is ready at `==> Setup complete` instead
/// ([`crate::guest_os::illumos::coal::first_boot`]).
pub const ILLUMOS: Profile = Profile {
    name: "illumos",
    ready: Ready::Prompt(r"(\S+ console login:)"),
    // coal's OS console is ttyb, the second serial port.
    console_port: 1,
    ssh_user: "root",
    boot_id_command: "kstat -p unix:0:system_misc:boot_time | awk '{print $2}'",
    cpuinfo_command: "psrinfo -vp",
    reboot_command: "reboot",
    // uadmin A_DUMP: panic ("forced crash dump initiated at user request"), dump, reboot.
    panic_command: "uadmin 5 1",
    // ksh93's sleep takes fractions of a second; illumos has no usleep.
    sleep_ms: "ms=$(( {ms} )); sleep $((ms / 1000)).$(printf %03d $((ms % 1000)))",
    // moddebug 0x80000000 prints a console line at every module load and unload.
    // SmartOS manages zones with vmadm (zoneadm works too, but vmadm is what operators use).
    zones: Some(ZoneCommands {
        running: "vmadm list -H -o uuid state=running",
        halted: "vmadm list -H -o uuid state=stopped",
        halt: "vmadm stop {zone} -F",
        boot: "vmadm start {zone}",
    }),
    module_debug: "echo 'moddebug/W 80000000' | mdb -kw",
    virt_flags_command: "isainfo -v",
    // illumos names the hardware capabilities after <sys/auxv_386.h>: amd_svm, vmx.
    virt_flags: &[(Vendor::Amd, "amd_svm"), (Vendor::Intel, "vmx")],
    // modinfo's sixth field is the module name (its first line is the header).
    modules_command: "modinfo | awk 'NR > 1 {print $6}'",
    // bhyve's vmm drives both vendors' extensions (through hma).
    virt_modules: &[(Vendor::Amd, "vmm"), (Vendor::Intel, "vmm")],
    virt_refusal: r"(hma_(?:svm|vmx)_init: .*)",
    // Current illumos logs hma's refusal only (`cmn_err(CE_NOTE, "!hma_svm_init: %s")`,
    // illumos-gate `usr/src/uts/intel/os/hma.c`); older platforms printed it on the console.
    virt_log_command: "cat /var/adm/messages 2>/dev/null || dmesg",
    // The rig counts on no pvpanic driver on illumos: its panics are read off the console.
    pvpanic: false,
    // Every known OS's stall words: the coal stand-in runs a Linux kernel under this profile.
    stall_dialects: StallDialects(super::dialects),
    modules: &[ModuleReload {
        name: "vmm",
        unload: "id=$(modinfo | awk '$6 == \"vmm\" {print $1}'); [ -n \"$id\" ] || { echo 'vmm is not loaded' >&2; exit 1; }; modunload -i $id",
        // modunload prints `can't unload the module: Device busy` and exits with EBUSY (16)
        // (illumos-gate usr/src/cmd/modload/modunload.c, error() in modsubr.c).
        busy: &["Device busy"],
        // An id gone between modinfo and modunload is EINVAL.
        absent: &["vmm is not loaded", "Invalid argument"],
        // vmm is installed under /usr/kernel/drv/amd64 (illumos-gate usr/src/uts/i86pc/vmm/Makefile:
        // ROOTMODULE is $(USR_DRV_DIR)/$(MODULE)), not /kernel/drv/amd64. `-p` hands the name to
        // the kernel, which searches the module path (illumos-gate usr/src/cmd/modload/modload.c),
        // so the load does not depend on where the platform put it.
        load: "modload -p drv/vmm",
        // An attached vmm's sdev plugin refuses to unregister (`Device busy`) unless this is 1.
        free: "echo 'sdev_plugin_unregister_allowed/W 1' | mdb -kw",
    }],
};

/// Prepared coal headnodes: `coal` is the newest, `coal-<key>` one by its directory.
pub struct Illumos;

#[async_trait]
impl GuestOs for Illumos {
    fn name(&self) -> &'static str {
        "illumos"
    }

    fn make_image(&self, input: &ImageInput, say: Stage<'_>) -> Option<Result<Vec<String>>> {
        make::make(input, say)
    }

    fn image_recipes(&self) -> &'static [(&'static str, &'static str)] {
        &[("coal", "is prepared from a user's file"), ("coal-stand-in", "builds the coal test fixture")]
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &IllumosDialect
    }

    fn profile_for(&self, image: &str) -> Option<&'static Profile> {
        (image == "coal" || image.starts_with("coal-") || image.starts_with("smartos")).then_some(&ILLUMOS)
    }

    fn known(&self, _build_dir: Option<&Path>) -> Vec<String> {
        vec!["coal (the newest prepared headnode)".into(), "coal-<key> (one prepared headnode)".into()]
    }

    /// `coal`: every prepared headnode, by platform stamp (oldest first).
    fn series(&self, build_dir: &Path, keyword: &str) -> Option<super::Series> {
        if keyword != "coal" {
            return None;
        }
        let mut coal = crate::guest_os::illumos::coal::image::prepared(build_dir);
        coal.sort_by(|x, y| x.platform.cmp(&y.platform));
        Some(super::Series {
            builds: coal.iter().filter_map(|c| Some(c.dir.file_name()?.to_str()?.to_string())).collect(),
            how_to_make: " prepared coal headnodes; make them with `cargo xtask image coal`",
        })
    }

    fn parallel_ok(&self) -> bool {
        // A headnode's disks are one set of files.
        false
    }

    async fn load(&self, build_dir: &Path, name: &str) -> Result<Arc<dyn Target>> {
        if name != "coal" {
            let dir = build_dir.join("images").join(name);
            return match CoalImage::load(&dir) {
                Ok(c) => Ok(Arc::new(CoalTarget(c))),
                Err(e) => bail!(
                    "image '{name}': {e:#}; the prepared coal images are in {} (`cargo xtask image coal --from \
                     coal-latest.tgz` prepares one)",
                    build_dir.join("images").display()
                ),
            };
        }
        let dir = build_dir.to_path_buf();
        let prepared = tokio::task::spawn_blocking(move || crate::guest_os::illumos::coal::prepared(&dir)).await?;
        match prepared.into_iter().next() {
            Some(c) => Ok(Arc::new(CoalTarget(c))),
            None => {
                bail!("image '{name}' is not prepared: get one with `cargo xtask image coal --from coal-latest.tgz`")
            }
        }
    }
}

/// A prepared headnode.
#[derive(Debug)]
pub struct CoalTarget(pub CoalImage);

impl CoalTarget {
    /// The set-up states saved so far, read from `coal.json` afresh: a run saves one while the
    /// image it loaded at its start is still in use.
    fn saved_setups(&self) -> Vec<String> {
        CoalImage::load(&self.0.dir)
            .map(|c| c.manifest.setup_snapshots)
            .unwrap_or_else(|_| self.0.manifest.setup_snapshots.clone())
    }
}

fn setup_tag(shape: &Shape, cpu: &CpuModel, accel: Accel) -> String {
    crate::guest_os::illumos::coal::setup::setup_tag(
        cpu.name,
        shape.virt_word(),
        shape.memory_mib,
        shape.vcpus,
        accel.as_str(),
    )
}

#[async_trait]
impl Target for CoalTarget {
    fn profile(&self) -> &'static Profile {
        &ILLUMOS
    }

    /// Coal's host key is made at its first boot: until then it is trusted on first use and
    /// pinned in the image directory.
    fn keys(&self) -> SshKeys {
        let c = &self.0;
        SshKeys {
            client_key: c.client_key.clone(),
            host_key: c.host_key.clone().unwrap_or_else(|| c.dir.join("host_key.pub")),
        }
    }

    fn machine(&self, shape: &Shape, cpu: &'static CpuModel, accel: Accel) -> Result<MachineSpec> {
        let min = crate::guest_os::illumos::coal::machine::MIN_MEMORY_MIB;
        if shape.memory_mib < min {
            bail!("a coal headnode needs at least {min} MiB; the case asks for {}", shape.memory_mib);
        }
        let mut spec = self.0.machine(cpu, accel, shape.memory_mib, shape.vcpus);
        shape.apply(&mut spec);
        // A set-up headnode of this shape was saved: start from it, not 10-20 minutes of setup.
        let tag = setup_tag(shape, cpu, accel);
        if self.saved_setups().contains(&tag) {
            spec.extra_args.extend(["-loadvm".to_string(), tag]);
        }
        Ok(spec)
    }

    fn guest_os(&self) -> &'static dyn GuestOs {
        &Illumos
    }

    fn reusable(&self) -> bool {
        // Its manifest changes during a run (its setup snapshot): read it each time.
        false
    }

    fn setup_snapshot(&self, shape: &Shape, cpu: &CpuModel, accel: Accel) -> Option<SetupSnapshot> {
        let tag = setup_tag(shape, cpu, accel);
        let saved = self.saved_setups().contains(&tag);
        Some(SetupSnapshot { tag, saved })
    }

    fn record_setup_snapshot(&self, tag: &str) -> Result<()> {
        let mut fresh = CoalImage::load(&self.0.dir)?;
        fresh.update_manifest(|m| {
            if !m.setup_snapshots.iter().any(|t| t == tag) {
                m.setup_snapshots.push(tag.to_string());
            }
        })
    }

    /// A saved set-up headnode has no boot to watch: SSH alone. The first boot runs setup for
    /// 10-20 minutes, and its login prompt comes before setup's lines: the boot is done at
    /// `Setup complete`, then SSH. A setup question is infrastructure.
    async fn wait_ready(
        &self,
        guest: &Guest,
        setup: Option<&SetupSnapshot>,
        deadline: Instant,
        stage: Stage<'_>,
    ) -> Result<(), String> {
        let link = guest.link();
        if setup.is_some_and(|s| s.saved) {
            return link.wait_ssh_ready(deadline).await.map(drop).map_err(never_ready);
        }
        // Set up and saved in another shape: these disks boot without setup (no `Setup
        // complete` comes), so SSH and setup's own record say when it is ready.
        if !self.saved_setups().is_empty() {
            link.wait_ssh_ready(deadline).await.map(drop).map_err(never_ready)?;
            return setup_json_complete(&link).await;
        }
        tokio::select! {
            r = crate::guest_os::illumos::coal::first_boot::wait_setup(guest.console(), deadline, stage) => match r {
                Ok(_) => {
                    link.wait_ssh_ready(deadline).await.map(drop).map_err(never_ready)?;
                    setup_json_complete(&link).await
                }
                Err(e) => Err(e.to_string()),
            },
            stall = link.watch_stalls(0) => Err(never_ready(stall)),
        }
    }

    fn panic_watch(&self, guest: &Guest) -> Box<dyn PanicWatch> {
        Box::new(kmdb::PanicDebugger::watch(guest.console().clone()))
    }

    /// The guest writes its dump and reboots into savecore, but without the case's module
    /// switches and setup: the next iteration boots afresh (from the setup snapshot).
    async fn after_panic(&self, link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
        savecore(link, dir, boot_timeout).await
    }
}

/// After `Setup complete` on the console (or on set-up disks), setup's own record must agree:
/// headnode.sh's `mark_as_setup` sets `"complete": true` in `/var/lib/setup.json`.
async fn setup_json_complete(link: &GuestLink) -> Result<(), String> {
    use crate::guest_os::illumos::coal::setup_fail::{SETUP_JSON_COMMAND, setup_json_complete as complete};
    let text = link
        .run(SETUP_JSON_COMMAND, Duration::from_secs(30))
        .await
        .map_err(|e| format!("coal setup: reading /var/lib/setup.json failed: {e:#}"))?;
    match complete(&text) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("coal setup: /var/lib/setup.json does not say \"complete\": true: {}", text.trim())),
        Err(e) => Err(format!("coal setup: {e}")),
    }
}

/// Waits (up to `boot_timeout`) for the reboot after a panic and triages the newest saved dump.
/// Returns the mdb text, why the guest did not come back (then it is killed as after any
/// panic: frozen at kmdb's prompt, say), or `None` when it saved nothing.
async fn savecore(link: &GuestLink, dir: &Path, boot_timeout: Duration) -> Option<String> {
    if let Err(e) = super::next_boot(link, boot_timeout).await {
        return Some(format!("savecore: nothing to read: {e}"));
    }
    // The boot-time savecore may still be writing the dump: the command waits for it.
    let wait = Duration::from_secs(u64::from(SAVECORE_WAIT_SECS) + 30);
    let newest = link.run(&newest_dump_command(), wait).await.ok()?;
    let newest = newest.trim();
    let Some(cmd) = triage_command(newest) else {
        tracing::warn!("the guest rebooted but savecore saved no dump in {CRASH_DIR}");
        return None;
    };
    let out = link.ssh().ok()?.exec(&cmd, MDB_TIMEOUT).await.ok()?;
    let text = format!("savecore + mdb of {newest} in the guest:\n{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join("savecore-mdb.txt"), &text);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Pattern;

    #[test]
    fn illumos_is_ready_at_its_login_prompt_on_ttyb() {
        let p = Illumos.profile_for("coal").unwrap();
        assert_eq!((p.name, p.console_port), ("illumos", 1));
        assert!(matches!(p.ready, Ready::Prompt(_)));
        assert_eq!(Illumos.profile_for("coal-0123456789abcdef").unwrap().name, "illumos");
        let ready = Pattern::regex(p.ready.pattern()).unwrap();
        assert_eq!(ready.find("headnode console login: ").as_deref(), Some("headnode console login:"));
        assert_eq!(crate::guest_os::linux::LINUX.console_port, 0);
    }

    /// The rig panics an illumos guest on purpose with `uadmin 5 1` (A_DUMP, AD_BOOT: panic,
    /// dump, reboot), and that is the command the engine gets for every image name illumos
    /// claims, through the registry as through the target.
    #[test]
    fn illumos_panics_on_purpose_with_uadmin_a_dump() {
        assert_eq!(ILLUMOS.panic_command, "uadmin 5 1");
        for name in ["coal", "coal-0123456789abcdef", "smartos-20240101"] {
            let p = crate::guest_os::profile_for(name).unwrap_or_else(|| panic!("no profile for {name}"));
            assert_eq!(p, &ILLUMOS, "{name}");
            assert_eq!(p.panic_command, "uadmin 5 1", "{name}");
            assert_eq!(crate::guest_os::os_of(name).map(|k| k.name()), Some("illumos"), "{name}");
        }
        assert_ne!(crate::guest_os::profile_for("linux").unwrap().panic_command, ILLUMOS.panic_command);
    }

    #[test]
    fn illumos_zone_commands() {
        let z = ILLUMOS.zones.as_ref().unwrap();
        assert_eq!(
            z.halt_command(Some(4)),
            "for zone in $(vmadm list -H -o uuid state=running | head -4); do vmadm stop $zone -F & done; wait"
        );
        assert_eq!(
            z.halt_command(None),
            "for zone in $(vmadm list -H -o uuid state=running); do vmadm stop $zone -F & done; wait"
        );
        assert_eq!(
            z.boot_command(),
            "for zone in $(vmadm list -H -o uuid state=stopped); do vmadm start $zone & done; wait"
        );
        assert!(crate::guest_os::linux::LINUX.zones.is_none());
    }

    #[test]
    fn illumos_loads_vmm_wherever_the_platform_put_it() {
        let vmm = ILLUMOS.module("vmm").unwrap();
        assert_eq!(vmm.load_command(Vendor::Amd), "modload -p drv/vmm");
        assert!(!vmm.command(Vendor::Amd).contains("/kernel/drv/amd64/vmm"));
        // A nested check looks for vmm, listed by modinfo, not for Linux's kvm modules.
        assert_eq!(ILLUMOS.virt_module(Vendor::Intel), Some("vmm"));
        assert!(ILLUMOS.modules_command.starts_with("modinfo"));
    }
}
