//! The registry of guest OSes: the built-in ones and any registered at run time. It alone
//! decides which OSes (and so which crash dialects) exist; everything that needs "every OS"
//! or "the OS of this image" asks here.

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{Result, bail};

use super::{GuestOs, KnownBisection, Series, Stage, Target, illumos, linux};
use crate::crash::{AutoReader, Dialect};
use crate::profile::Profile;

/// The guest OSes built into the rig, in the order "unknown image" messages list them.
const BUILT_IN: &[&dyn GuestOs] = &[&linux::Linux, &illumos::Illumos];

/// The guest OSes registered at run time, after the built-ins.
static REGISTERED: RwLock<Vec<&'static dyn GuestOs>> = RwLock::new(Vec::new());

/// Adds a guest OS for the rest of the process (a test's own, a tool's). Its images are
/// claimed only when no OS before it claims them. A name already taken is an error.
pub fn register(os: &'static dyn GuestOs) -> Result<()> {
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if BUILT_IN.iter().chain(all.iter()).any(|k| k.name() == os.name()) {
        bail!("a guest OS named '{}' is already registered", os.name());
    }
    all.push(os);
    Ok(())
}

/// Every guest OS the rig knows: the built-ins, then the registered ones.
pub fn registry() -> Vec<&'static dyn GuestOs> {
    let registered = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    BUILT_IN.iter().copied().chain(registered.iter().copied()).collect()
}

/// Every known OS's crash dialect, in the registry's order.
pub fn dialects() -> Vec<&'static dyn Dialect> {
    registry().iter().map(|k| k.dialect()).collect()
}

/// The image a run boots when nothing names one: the first in the registry that has one.
pub fn default_image() -> String {
    registry().iter().find_map(|k| k.default_image()).unwrap_or_default().to_string()
}

/// The crash dialect of the OS named `name`.
pub fn dialect(name: &str) -> Option<&'static dyn Dialect> {
    registry().into_iter().find(|k| k.name() == name).map(|k| k.dialect())
}

/// The streaming reader behind `triage`: `os` names the OS whose dialect reads the text, or
/// (`None`) the reader decides among every known OS as it reads. An unknown name is an error
/// listing the known ones.
pub fn triage_reader(os: Option<&str>) -> Result<AutoReader> {
    match os {
        None => Ok(AutoReader::new(dialects())),
        Some(name) => match dialect(name) {
            Some(d) => Ok(AutoReader::new(vec![d])),
            None => {
                let known: Vec<&str> = registry().iter().map(|k| k.name()).collect();
                bail!("unknown OS '{name}'; known: {}", known.join(", "))
            }
        },
    }
}

/// The kind of image `name`, by its name.
pub fn os_of(name: &str) -> Option<&'static dyn GuestOs> {
    registry().into_iter().find(|k| k.profile_for(name).is_some())
}

/// The profile of image `name`, by its name.
pub fn profile_for(name: &str) -> Option<&'static Profile> {
    registry().iter().find_map(|k| k.profile_for(name))
}

/// Every known image name of every kind.
pub fn known_images(build_dir: Option<&Path>) -> Vec<String> {
    registry().iter().flat_map(|k| k.known(build_dir)).collect()
}

/// The message for an image name no kind knows, listing every known one.
pub fn unknown_image(name: &str, build_dir: Option<&Path>) -> String {
    format!("unknown image '{name}'; known images: {}", known_images(build_dir).join(", "))
}

/// Several guests may boot image `name` at once (without loading it; unknown names: yes).
pub fn parallel_ok_for(name: &str) -> bool {
    os_of(name).is_none_or(|k| k.parallel_ok())
}

/// Whether image `name` is known and can be had (the error says what is missing and how to
/// make it).
pub fn check_image(build_dir: &Path, name: &str) -> Result<(), String> {
    match os_of(name) {
        Some(k) => k.check_image(build_dir, name),
        None => Err(unknown_image(name, Some(build_dir))),
    }
}

/// The images a bisection keyword (`coal`) stands for, when some OS knows the keyword.
pub fn series(build_dir: &Path, keyword: &str) -> Option<Series> {
    registry().iter().find_map(|k| k.series(build_dir, keyword))
}

/// Builds (or finds built) every OS's images made from the rig's own recipes, saying each as
/// it is ready.
pub fn build_images(build_dir: &Path, say: Stage<'_>) -> Result<()> {
    registry().iter().try_for_each(|k| k.build_images(build_dir, say))
}

/// The first known bisection fixture of any OS.
pub fn known_bisection() -> Option<KnownBisection> {
    registry().iter().find_map(|k| k.known_bisection())
}

/// Finds (or builds) the image `name`.
pub async fn load(build_dir: &Path, name: &str) -> Result<Arc<dyn Target>> {
    match os_of(name) {
        Some(k) => k.load(build_dir, name).await,
        None => bail!("{}", unknown_image(name, Some(build_dir))),
    }
}
