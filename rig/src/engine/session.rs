//! A booted guest ready for a case's iterations: launched on its target's machine, ready as
//! its target says, checked, set up, and (when the case allows) saved to restore from.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::plan::Plan;
use super::steps::{StepError, run_block};
use super::watch::{Sighting, Watcher};
use crate::case::Case;
use crate::guest::Guest;
use crate::guest_os::{PanicWatch, Target};
use crate::machine::CpuModel;
use crate::results::Outcome;

/// The VM state snapshot-restore iterations start from.
pub(super) const SNAPSHOT_TAG: &str = "rig-base";

/// A booted guest with its watcher.
pub(super) struct Session {
    pub(super) guest: Guest,
    pub(super) watcher: Watcher,
    /// The target's guest-side panic handling on this boot (evidence after a panic).
    pub(super) panic_watch: Box<dyn PanicWatch>,
    /// Iterations restore the saved state first.
    pub(super) snapshot: bool,
    /// The guest is still in the saved state (nothing ran since the snapshot or the restore).
    pub(super) pristine: std::cell::Cell<bool>,
}

/// Why a boot did not give a session ready for the case.
pub(super) enum BootFailure {
    /// The consoles went silent before the guest was ready: worth one more try on a fresh
    /// QEMU.
    Silent(Outcome),
    /// The kernel panicked before the guest was ready: the iteration's panic, read as any
    /// other (the session holds the guest and its watcher for the evidence).
    Panicked(Box<Session>, Sighting),
    /// Anything else, as its outcome.
    Failed(Outcome),
}

impl From<Outcome> for BootFailure {
    fn from(o: Outcome) -> BootFailure {
        BootFailure::Failed(o)
    }
}

/// Boots a fresh guest for the case, waits until it is ready and runs the case's setup steps.
/// `silence`: how long the consoles may stay silent while it boots; `stop_it`: a fault the
/// rig's tests inject (the vCPUs stopped as the guest starts: a boot that goes silent).
#[allow(clippy::too_many_arguments)]
pub(super) async fn boot(
    plan: &Plan,
    image: &dyn Target,
    c: &Case,
    cpu: &'static CpuModel,
    dir: &std::path::Path,
    boot_timeout: Duration,
    silence: Duration,
    stop_it: bool,
    stage: &(dyn Fn(String) + Sync),
) -> Result<Session, BootFailure> {
    let shape = c.guest.shape();
    let mut spec = image.machine(&shape, cpu, plan.accel).map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?;
    let profile = image.profile().clone();
    let keys = image.keys();
    let snapshot = c.snapshot && plan.snapshots;
    if snapshot {
        spec.state_disk = Some(state_disk(dir).map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?);
    }
    let mut guest =
        Guest::launch(spec, profile, keys, dir).await.map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?;
    guest.set_boot_silence(Some(silence));
    guest.set_after_panic_silence(plan.inject.boot_silence);
    if stop_it {
        tracing::warn!(dir = %dir.display(), "injected fault: stopping the guest's vCPUs as it boots");
        let _ = guest.qmp().execute(&qapi::qmp::stop {}, Duration::from_secs(5)).await;
    }
    let watcher = Watcher::start(&guest.link(), image.dialect());
    let mut panic_watch = image.panic_watch(&guest);
    let setup = image.setup_snapshot(&shape, cpu, plan.accel);
    let deadline = Instant::now() + boot_timeout;
    let ready = tokio::select! {
        r = image.wait_ready(&guest, setup.as_ref(), deadline, stage) => r,
        Some(s) = watcher.wait_fatal(0, deadline) => {
            if setup.as_ref().is_some_and(|s| !s.saved) {
                // The set-up boot is the rig's, not an iteration's: its panic is infrastructure.
                let title = watcher.report(0, Duration::from_secs(3)).await.map(|r| r.title);
                Err(format!("the guest panicked during its set-up boot: {}", title.as_deref().unwrap_or("(no report on the console)")))
            } else {
                tracing::warn!(dir = %dir.display(), "the guest panicked while booting");
                let session = Session { guest, watcher, panic_watch, snapshot: false, pristine: std::cell::Cell::new(false) };
                return Err(BootFailure::Panicked(Box::new(session), s));
            }
        }
    };
    if let Err(why) = ready {
        let tail = guest.console().tail(30).join("\n");
        let silent = guest.boot_went_silent();
        guest.kill().await;
        let reason = format!("{why}\nlast console lines:\n{tail}\nevidence: {}", dir.display());
        return Err(if silent {
            BootFailure::Silent(Outcome::Infra { reason })
        } else {
            Outcome::Infra { reason }.into()
        });
    }
    guest.set_boot_silence(None);
    // Before the setup snapshot is saved, so a guest resumed from it has it set too.
    panic_watch.ready(&guest.link()).await;
    if let Some(s) = setup.filter(|s| !s.saved) {
        // Saved before the case's own setup: later runs of any case on this machine shape
        // start from here.
        match guest.save_snapshot(&s.tag).await.and_then(|()| image.record_setup_snapshot(&s.tag)) {
            Ok(()) => {
                tracing::info!(tag = s.tag, "saved the set-up guest; later runs start from it");
                stage(format!("saved the set-up guest as {}", s.tag));
            }
            Err(e) => tracing::warn!("could not save the set-up guest: {e:#}"),
        }
    }
    if let Err(reason) = super::preflight::run(&guest.link(), c, cpu, &guest.console().lines_since(0), dir).await {
        guest.kill().await;
        return Err(Outcome::Infra { reason }.into());
    }
    if !c.setup.is_empty() {
        let ctx = super::ctx::Ctx::new(guest.link(), cpu, c.guest.nested, boot_timeout, plan.seed, c.unload_busy);
        if let Err(e) = run_block(&ctx, &c.setup).await {
            guest.kill().await;
            return Err(BootFailure::Failed(match e {
                StepError::Failed { step, reason } | StepError::Guest { step, reason } => {
                    Outcome::StepFailed { step: format!("setup: {step}"), reason }
                }
                StepError::Infra(reason) => Outcome::Infra { reason },
                StepError::Interrupted => Outcome::Infra { reason: "setup interrupted by a reboot".into() },
            }));
        }
    }
    if snapshot && let Err(e) = guest.save_snapshot(SNAPSHOT_TAG).await {
        guest.kill().await;
        return Err(Outcome::Infra { reason: format!("saving the snapshot: {e:#}") }.into());
    }
    Ok(Session { guest, watcher, panic_watch, snapshot, pristine: std::cell::Cell::new(true) })
}

/// Creates the qcow2 file that holds saved VM states.
fn state_disk(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    crate::qemu::img::create(dir, crate::rundir::STATE_DISK, "4G")?;
    Ok(dir.join(crate::rundir::STATE_DISK))
}
