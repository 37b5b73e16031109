//! coal's first-boot setup as seen on the console: a pure parser turning console lines into
//! progress events (the progress line a user watches for 10–20 minutes), and the snapshot plan
//! that saves the set-up headnode once so later runs resume it in seconds.
//!
//! Line shapes from sdc-headnode `scripts/joysetup.sh` (`creating pool: zones`, `adding
//! volume: dump`, each padded and ended by `done`) and `scripts/headnode.sh` (`creating zone
//! <role>... ` then `done (Ns)`, `==> Setup complete (in N seconds). Press [enter] ...`);
//! smartos-live's `smartdc-init` prints `REBOOTING!` when setup reboots. The login prompt comes
//! before the progress lines (see [`crate::guest_os::illumos::coal::first_boot`]), so it is no stage of its own end.

use regex::Regex;
use std::sync::LazyLock;

/// A stage of the headnode's first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The loader is running (its console banner).
    Loader,
    /// The kernel printed its banner (detail: the version, e.g. `joyent_20181206T011455Z`).
    Kernel,
    /// The `zones` pool is being created.
    Pool,
    /// A volume of the pool (`dump`, `swap`, ...) is being created.
    Volume,
    /// The machine reboots (setup reboots once).
    Reboot,
    /// headnode.sh began (`preparing for setup...`): agents, then the zones.
    Prepare,
    /// A service zone is being created or imported (detail: its name).
    Zone,
    /// The serial login prompt (detail: the hostname).
    Login,
}

/// What one console line told about setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupEvent {
    /// A stage began.
    Stage {
        /// Which.
        stage: Stage,
        /// The captured detail (version, volume, zone, hostname), may be empty.
        detail: String,
    },
    /// `==> Setup complete (in N seconds).`
    Complete {
        /// The seconds setup reported.
        secs: u64,
    },
}

/// The stage patterns: a table, so a newly seen coal line is one row.
const STAGES: &[(&str, Stage)] = &[
    (r"^\s*Consoles: (.*)$", Stage::Loader),
    // A GRUB-era key's GRUB legacy banner (its shape on a serial terminal assumed).
    (r"^\s*GNU GRUB\s+version (\S+)", Stage::Loader),
    (r"^\s*SunOS Release \S+ Version (\S+)", Stage::Kernel),
    (r"^\s*creating pool: (\S+)", Stage::Pool),
    (r"^\s*adding volume: (\S+)", Stage::Volume),
    (r"^\s*rebooting\.\.\.()", Stage::Reboot),
    (r"^\s*REBOOTING!()", Stage::Reboot),
    (r"^\s*reboot: Halting ([0-9]+) zones", Stage::Reboot),
    (r"^\s*preparing for setup\.\.\.()", Stage::Prepare),
    (r"^\s*creating zone ([\w-]+)\.\.\.", Stage::Zone),
    (r"^(\S+) console login:", Stage::Login),
];

struct Table {
    stages: Vec<(Regex, Stage)>,
    complete: Regex,
}

static T: LazyLock<Table> = LazyLock::new(|| Table {
    stages: STAGES.iter().map(|(re, s)| (Regex::new(re).expect("setup stage pattern"), *s)).collect(),
    complete: Regex::new(r"==> Setup complete \(in ([0-9]+) seconds\)\.").expect("setup complete pattern"),
});

/// The event a console line stands for, if any.
pub fn parse_line(line: &str) -> Option<SetupEvent> {
    if let Some(c) = T.complete.captures(line) {
        return Some(SetupEvent::Complete { secs: c[1].parse().unwrap_or(0) });
    }
    T.stages.iter().find_map(|(re, stage)| {
        let c = re.captures(line)?;
        Some(SetupEvent::Stage { stage: *stage, detail: c.get(1).map_or("", |m| m.as_str()).trim().to_string() })
    })
}

/// About how many service zones a coal setup imports (the progress line's denominator).
pub const EXPECTED_ZONES: usize = 22;

/// Setup progress folded from events, for the progress line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetupProgress {
    /// The last stage seen.
    pub stage: Option<Stage>,
    /// Its detail.
    pub detail: String,
    /// Boots seen (kernel banners).
    pub boots: usize,
    /// Zones seen being created or imported.
    pub zones: Vec<String>,
    /// `Some(secs)` once setup completed.
    pub complete: Option<u64>,
}

impl SetupProgress {
    /// Folds one console line in, each `\r`-separated part of it in turn (headnode.sh's first
    /// line returns to the login prompt's line); returns the last event it carried.
    pub fn feed(&mut self, line: &str) -> Option<SetupEvent> {
        line.split('\r').filter_map(|part| self.feed_part(part)).last()
    }

    fn feed_part(&mut self, line: &str) -> Option<SetupEvent> {
        let ev = parse_line(line)?;
        match &ev {
            SetupEvent::Complete { secs } => self.complete = Some(*secs),
            SetupEvent::Stage { stage, detail } => {
                if *stage == Stage::Kernel {
                    self.boots += 1;
                }
                if *stage == Stage::Zone && !self.zones.contains(detail) {
                    self.zones.push(detail.clone());
                }
                self.stage = Some(*stage);
                self.detail = detail.clone();
            }
        }
        Some(ev)
    }

    /// One line for the user: `coal setup: boot 2, zones 7/~22, creating zone imgapi`.
    pub fn line(&self) -> String {
        if let Some(s) = self.complete {
            return format!("coal setup: complete in {s} s ({} zones)", self.zones.len());
        }
        let what = match self.stage {
            None => "waiting for the loader".to_string(),
            Some(Stage::Loader) => "loader".into(),
            Some(Stage::Kernel) => format!("kernel {}", self.detail),
            Some(Stage::Pool) => format!("creating pool {}", self.detail),
            Some(Stage::Volume) => format!("creating volume {}", self.detail),
            Some(Stage::Reboot) => "rebooting".into(),
            Some(Stage::Prepare) => "preparing for setup".into(),
            Some(Stage::Zone) => format!("zone {}", self.detail),
            Some(Stage::Login) => format!("login prompt ({})", self.detail),
        };
        format!("coal setup: boot {}, zones {}/~{EXPECTED_ZONES}, {what}", self.boots.max(1), self.zones.len())
    }
}

/// The snapshot tag of a set-up headnode saved from this machine shape. `loadvm` needs the same
/// memory size and vCPU count, and the guest kernel keeps the CPU features it saw at boot, so a
/// headnode saved with SVM hidden must not serve a case that needs it: the tag names them all.
pub fn setup_tag(cpu: &str, virt: &str, memory_mib: u32, vcpus: u32, accel: &str) -> String {
    format!("rig-setup-{cpu}-{virt}-{memory_mib}m-{vcpus}cpu-{accel}")
}

/// How the set-up headnode is saved and resumed: a qcow2 internal snapshot of RAM, devices and
/// both disks (`savevm`), chosen over an overlay chain because one command captures a running,
/// logged-in headnode atomically, and resuming it (`loadvm`) skips the boot as well as setup.
/// It needs every writable disk to be qcow2: the USB overlay and the zpool disk both are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPlan {
    /// HMP commands, in order.
    pub hmp: Vec<String>,
}

/// Saving, once setup completed, the login prompt came and SSH answered: `savevm` pauses the
/// guest while it writes, and the rig lists the snapshots to check it is there.
pub fn save_plan(tag: &str) -> SnapshotPlan {
    SnapshotPlan { hmp: vec![format!("savevm {tag}"), "info snapshots".into()] }
}

/// Resuming, right after QEMU starts paused (`-S`) and before `cont`: the guest continues
/// where it was saved, so no console banner or login prompt comes again: readiness is SSH
/// (the user network's forwards are re-made by QEMU; TCP connections from before are gone).
pub fn restore_plan(tag: &str) -> SnapshotPlan {
    SnapshotPlan { hmp: vec!["info snapshots".into(), format!("loadvm {tag}")] }
}

/// Whether HMP `info snapshots` lists `tag` (its TAG column: second field, or first when a
/// QEMU prints no ID).
pub fn snapshot_listed(info_snapshots: &str, tag: &str) -> bool {
    info_snapshots.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&tag) || f.get(1) == Some(&tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_lines() {
        assert_eq!(parse_line("==> Setup complete (in 842 seconds)."), Some(SetupEvent::Complete { secs: 842 }));
        assert_eq!(
            parse_line("SunOS Release 5.11 Version joyent_20181206T011455Z 64-bit"),
            Some(SetupEvent::Stage { stage: Stage::Kernel, detail: "joyent_20181206T011455Z".into() })
        );
        assert_eq!(
            parse_line("headnode console login: "),
            Some(SetupEvent::Stage { stage: Stage::Login, detail: "headnode".into() })
        );
        assert_eq!(
            parse_line("reboot: Halting 33 zones."),
            Some(SetupEvent::Stage { stage: Stage::Reboot, detail: "33".into() })
        );
        assert_eq!(
            parse_line("    GNU GRUB  version 0.97  (639K lower / 3669952K upper memory)"),
            Some(SetupEvent::Stage { stage: Stage::Loader, detail: "0.97".into() })
        );
        assert_eq!(parse_line("Setup complete"), None);
        assert_eq!(
            parse_line("==> Setup complete (in 842 seconds). Press [enter] to get login prompt."),
            Some(SetupEvent::Complete { secs: 842 })
        );
        assert_eq!(
            parse_line("creating pool: zones                                    done"),
            Some(SetupEvent::Stage { stage: Stage::Pool, detail: "zones".into() })
        );
        assert_eq!(
            parse_line("adding volume: dump                                     done"),
            Some(SetupEvent::Stage { stage: Stage::Volume, detail: "dump".into() })
        );
        assert_eq!(parse_line("REBOOTING!"), Some(SetupEvent::Stage { stage: Stage::Reboot, detail: String::new() }));
        assert_eq!(parse_line("Creating pool zones... done"), None, "the stand-in's old made-up shape");
    }

    #[test]
    fn progress_line_counts_boots_and_zones() {
        let mut p = SetupProgress::default();
        assert_eq!(p.line(), "coal setup: boot 1, zones 0/~22, waiting for the loader");
        for l in [
            "SunOS Release 5.11 Version joyent_1 64-bit",
            "creating zone assets...                                     done (12s)",
            "creating zone sapi...                                       done (9s)",
            "creating zone sapi...                                       done (9s)",
            "importing: sdc-sapi                                         done (3s)",
        ] {
            p.feed(l);
        }
        assert_eq!(p.line(), "coal setup: boot 1, zones 2/~22, zone sapi");
        p.feed("headnode console login: \rpreparing for setup...                                    done (3s)");
        assert_eq!(p.line(), "coal setup: boot 1, zones 2/~22, preparing for setup");
        p.feed("==> Setup complete (in 900 seconds).");
        assert_eq!(p.line(), "coal setup: complete in 900 s (2 zones)");
    }

    #[test]
    fn snapshot_commands() {
        let tag = setup_tag("epyc", "hidden", 8192, 4, "kvm");
        assert_eq!(tag, "rig-setup-epyc-hidden-8192m-4cpu-kvm");
        assert_eq!(save_plan(&tag).hmp, [format!("savevm {tag}"), "info snapshots".into()]);
        assert_eq!(restore_plan(&tag).hmp, ["info snapshots".into(), format!("loadvm {tag}")]);
        let info = "List of snapshots present on all disks:\nID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n\
                    --        rig-setup         1.21 GiB 2026-11-27 13:00:00 00:20:10.123           \n";
        assert!(snapshot_listed(info, "rig-setup"));
        assert!(!snapshot_listed(info, "other"));
        assert!(!snapshot_listed("There is no snapshot available.", "rig-setup"));
    }
}
