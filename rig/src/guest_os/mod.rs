//! Everything that differs per guest OS, in one place. A target is a bootable image of one OS;
//! its [`GuestOs`] says how such images are found by name. Each OS is one file (or folder) here:
//! - [`linux`]: the embedded Debian Linux images (direct kernel boot);
//! - [`illumos`]: prepared SmartOS coal headnodes (USB image boot).
//!
//! The engine talks to [`Target`] and [`GuestOs`] and names no OS. Adding a guest OS means adding
//! a file here (its profile, machine, readiness, crash dialect and after-panic work), its image
//! recipe, and one line in the registry's built-ins; or, from outside the library, one call to
//! [`register`].

pub mod illumos;
pub mod inventory;
mod known_bisection;
pub mod linux;
mod make;
mod registry;

pub use known_bisection::KnownBisection;
pub use make::{ImageInput, make_image};

pub use registry::{
    build_images, check_image, default_image, dialect, dialects, known_bisection, known_images, load, os_of,
    parallel_ok_for, profile_for, register, registry, series, triage_reader, unknown_image,
};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use tokio::time::Instant;

use crate::crash::{Dialect, Os};
use crate::guest::{Guest, GuestError, GuestLink};
use crate::machine::{Accel, CpuModel, MachineSpec, Shape};
use crate::profile::Profile;
use crate::ssh::SshKeys;

/// One kind of guest OS image: how its images are named, found and run, and how its console
/// is read.
#[async_trait]
pub trait GuestOs: Send + Sync {
    /// The kind's name (`linux`, `illumos`).
    fn name(&self) -> &'static str;
    /// How its console is read: its crash reader, detection markers, end-of-panic line and
    /// what counts as fatal.
    fn dialect(&self) -> &'static dyn Dialect;
    /// The profile of image `name` when it is of this kind (by its name alone: nothing is
    /// read or built).
    fn profile_for(&self, name: &str) -> Option<&'static Profile>;
    /// The image names this kind knows, for "unknown image" messages (`build_dir` adds what
    /// was made there, such as registered user kernels).
    fn known(&self, build_dir: Option<&Path>) -> Vec<String>;
    /// Several guests may boot one image of this kind at once.
    fn parallel_ok(&self) -> bool;
    /// Packages the host's package lists must offer to build this kind's images.
    fn host_packages(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether image `name` (claimed by this kind) can be had; the error says what is missing
    /// and how to make it.
    fn check_image(&self, _build_dir: &Path, _name: &str) -> Result<(), String> {
        Ok(())
    }
    /// The images a keyword stands for in a bisection (`coal`: every prepared headnode),
    /// oldest first, when `keyword` is one of this kind's.
    fn series(&self, _build_dir: &Path, _keyword: &str) -> Option<Series> {
        None
    }
    /// The image a run boots when nothing names one, if this kind has one (the registry's
    /// first such is the rig's default image).
    fn default_image(&self) -> Option<&'static str> {
        None
    }
    /// Makes an image from the user's files when `recipe` is one of this kind's
    /// ([`make_image`]); `None` when it is not.
    fn make_image(&self, _input: &ImageInput, _say: Stage<'_>) -> Option<Result<Vec<String>>> {
        None
    }
    /// The recipes [`GuestOs::make_image`] takes, each with what it makes (for messages).
    fn image_recipes(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Builds (or finds built) every image of this kind made from the rig's own recipes (what
    /// the tests boot), saying each one's name, build time and directory as it is ready.
    fn build_images(&self, _build_dir: &Path, _say: Stage<'_>) -> Result<()> {
        Ok(())
    }
    /// A series of this kind's images whose first bad build is known, when it has one: a
    /// fixture for the bisection's tests and benchmark.
    fn known_bisection(&self) -> Option<KnownBisection> {
        None
    }
    /// Finds (or builds) image `name`, known to be of this kind.
    async fn load(&self, build_dir: &Path, name: &str) -> Result<Arc<dyn Target>>;
}

/// The images a bisection keyword stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The images, oldest first.
    pub builds: Vec<String>,
    /// What they are and how to make more, said when there are too few (` prepared coal
    /// headnodes; make them with ...`).
    pub how_to_make: &'static str,
}

/// A set-up guest state, by the shape of the machine it was saved from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupSnapshot {
    /// The `savevm` tag.
    pub tag: String,
    /// Already saved: the machine starts from it (`-loadvm`), so there is no boot to watch.
    pub saved: bool,
}

/// Reports a guest's boot or setup progress (one line at a time).
pub type Stage<'a> = &'a (dyn Fn(String) + Sync);

/// A bootable image of one guest OS.
#[async_trait]
pub trait Target: Send + Sync + std::fmt::Debug {
    /// Which crash reader reads its console (its kind's).
    fn os(&self) -> Os {
        self.dialect().os()
    }
    /// How its console is read (its kind's dialect).
    fn dialect(&self) -> &'static dyn Dialect {
        self.guest_os().dialect()
    }
    /// How the rig talks to the guest.
    fn profile(&self) -> &'static Profile;
    /// How the rig logs in.
    fn keys(&self) -> SshKeys;
    /// The machine for a case's `shape` on `cpu`.
    fn machine(&self, shape: &Shape, cpu: &'static CpuModel, accel: Accel) -> Result<MachineSpec>;
    /// The kind of guest OS it is.
    fn guest_os(&self) -> &'static dyn GuestOs;
    /// Several guests may run this image at once (as its kind says).
    fn parallel_ok(&self) -> bool {
        self.guest_os().parallel_ok()
    }
    /// A run may keep this image once found (false when it changes during a run).
    fn reusable(&self) -> bool;
    /// The release of the image's kernel, when the image knows it (recorded in the report).
    fn kernel_release(&self) -> Option<String> {
        None
    }
    /// The tool that reads this image's dumps on the host, when there is one at hand.
    fn dump_tool(&self) -> Option<Box<dyn DumpTool>> {
        None
    }
    /// The set-up state a machine of `shape` on `cpu` starts from or is saved as, when the
    /// OS's first boot is long enough to be worth saving.
    fn setup_snapshot(&self, _shape: &Shape, _cpu: &CpuModel, _accel: Accel) -> Option<SetupSnapshot> {
        None
    }
    /// Records a saved set-up state, so later runs start from it.
    fn record_setup_snapshot(&self, _tag: &str) -> Result<()> {
        Ok(())
    }
    /// Waits until a freshly launched guest is ready for the case (`setup`: from
    /// [`Target::setup_snapshot`]). The error says why it is not.
    async fn wait_ready(
        &self,
        guest: &Guest,
        setup: Option<&SetupSnapshot>,
        deadline: Instant,
        stage: Stage<'_>,
    ) -> Result<(), String> {
        let _ = (setup, stage);
        guest.wait_ready(deadline).await.map(drop).map_err(never_ready)
    }
    /// What watches a launched guest for panics on the guest's side (answering a debugger),
    /// started as soon as it launches.
    fn panic_watch(&self, _guest: &Guest) -> Box<dyn PanicWatch> {
        Box::new(NoWatch)
    }
    /// The guest's own work after a panic the rig waits for (its own dump), with a line of
    /// evidence for the triage; `dir` is the iteration's evidence directory.
    async fn after_panic(&self, _link: &GuestLink, _dir: &Path, _boot_timeout: Duration) -> Option<String> {
        None
    }
}

/// A host-side reader of a guest's dumps (Linux: `crash` with the debug vmlinux).
#[async_trait]
pub trait DumpTool: Send + Sync {
    /// The tool's name (`crash`).
    fn name(&self) -> &'static str;
    /// The command a person runs to open `dump` with it.
    fn command(&self, dump: &Path) -> String;
    /// What the tool says about `dump`, or the plain reason it cannot say.
    async fn read(&self, dump: &Path) -> Result<String>;
}

impl std::fmt::Debug for dyn DumpTool + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DumpTool({})", self.name())
    }
}

/// Guest-side panic handling during one boot.
#[async_trait]
pub trait PanicWatch: Send + Sync {
    /// The guest is ready: set what must be set on each fresh boot.
    async fn ready(&mut self, _link: &GuestLink) {}
    /// Evidence for a panic's triage: what the watch did.
    fn evidence(&self) -> Option<String> {
        None
    }
}

/// No guest-side panic handling.
struct NoWatch;

impl PanicWatch for NoWatch {}

/// Why a guest is not ready, as [`Target::wait_ready`] says it.
pub(crate) fn never_ready(e: GuestError) -> String {
    format!("the guest never became ready: {e}")
}

/// How long the consoles may stay silent while a panicked guest writes its dump and boots
/// again: a guest stuck (at a debugger prompt nobody could answer, or frozen) is given up in
/// minutes, not at the boot deadline.
pub const AFTER_PANIC_SILENCE: Duration = Duration::from_secs(180);

/// The tracing target of the lines a user waiting at the terminal should see while an image
/// is made (its build and its time): `cargo xtask` shows this target's info lines on the
/// terminal, above any progress bars, as `rig: <message>`.
pub const NOTICE: &str = "rig::notice";

/// The time since `started` for a [`NOTICE`], in whole seconds (`9s`, `2m 5s`).
pub(crate) fn took(started: std::time::Instant) -> String {
    humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())).to_string()
}

/// Lets the panicked guest go on (the host-side dump paused it) and waits for its next boot,
/// whose nonce proves it happened; gives up when the consoles stay silent for
/// [`AFTER_PANIC_SILENCE`] (or the link's own bound). The error says why, for the triage text.
pub(crate) async fn next_boot(link: &GuestLink, boot_timeout: Duration) -> Result<(), String> {
    let _ = link.qmp().execute(&qapi::qmp::cont {}, Duration::from_secs(10)).await;
    let previous = link.boot().map(|b| b.boot_id);
    let from = link.console().cursor();
    let since = Instant::now();
    let silence = link.after_panic_silence().unwrap_or(AFTER_PANIC_SILENCE).min(boot_timeout);
    match link.wait_boot_within(from, previous.as_deref(), since, since + boot_timeout, Some(silence)).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!("no new boot after the panic: {e}");
            Err(format!(
                "the guest did not boot again after the panic ({:.0} s waited): {e}",
                since.elapsed().as_secs_f64()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_claims_its_own_names() {
        assert_eq!(os_of("linux").map(|k| k.name()), Some("linux"));
        assert_eq!(os_of("linux-os7410-b4").map(|k| k.name()), Some("linux"));
        assert_eq!(os_of("coal").map(|k| k.name()), Some("illumos"));
        assert_eq!(os_of("coal-0123456789abcdef").map(|k| k.name()), Some("illumos"));
        assert!(os_of("nonesuch").is_none());
        assert!(parallel_ok_for("linux") && !parallel_ok_for("coal"));
    }

    #[test]
    fn unknown_images_are_told_every_kind() {
        let m = unknown_image("nonesuch", None);
        assert!(m.starts_with("unknown image 'nonesuch'; known images: linux, "), "{m}");
        assert!(m.contains("linux-os7410-debug") && m.contains("coal"), "{m}");
    }
}
