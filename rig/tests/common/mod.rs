//! Shared set-up for the tests that boot real guests: the default image and QEMU must be
//! there; a missing piece fails the test with what to do, never skips it.
#![allow(dead_code)]

pub mod pace;

use std::path::PathBuf;
use std::sync::OnceLock;

use rig::guest_os::linux::image::LinuxImage;

/// How long one test binary may run, in minutes, unless `$RIG_TEST_CEILING_MINS` says
/// otherwise: past it the binary exits failing, so no wait, however it was scaled, outlasts
/// CI's time (its QEMU children die with it: they have a parent-death signal).
const CEILING_MINS: u64 = 40;

/// Starts the test binary's ceiling watch (once per process).
pub fn ceiling() {
    static WATCH: std::sync::Once = std::sync::Once::new();
    WATCH.call_once(|| {
        let mins = std::env::var("RIG_TEST_CEILING_MINS")
            .ok()
            .and_then(|m| m.parse::<f64>().ok())
            .filter(|m| m.is_finite() && *m > 0.0)
            .unwrap_or(CEILING_MINS as f64);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs_f64(mins * 60.0));
            let me = std::env::args().next().unwrap_or_default();
            eprintln!("{me}: this test binary ran past its ceiling of {mins} min (RIG_TEST_CEILING_MINS): failing it");
            std::process::exit(124);
        });
    });
}

/// The workspace's build directory (`$RIG_BUILD_DIR` or `<workspace>/build`). Every test that
/// boots a guest asks for it, so it starts the binary's [`ceiling`] watch too.
pub fn build_dir() -> PathBuf {
    ceiling();
    std::env::var_os("RIG_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build"))
}

/// The default image, built once per test process (a cache hit after the first build).
pub fn image() -> LinuxImage {
    static IMAGE: OnceLock<LinuxImage> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            require_qemu();
            rig::guest_os::linux::image::ensure_image(&build_dir(), "linux")
                .expect("building the default image (run `cargo xtask test` to install host prerequisites)")
        })
        .clone()
}

/// The default image as the engine loads it (built once per test process, as [`image`]).
pub async fn target() -> std::sync::Arc<dyn rig::guest_os::Target> {
    image();
    rig::guest_os::load(&build_dir(), &rig::guest_os::default_image()).await.expect("loading the default image")
}

/// The usual machine for `image` under TCG: an EPYC model, 512 MiB, 2 vCPUs, nesting asked.
pub fn epyc_machine(image: &LinuxImage) -> rig::machine::MachineSpec {
    let epyc = rig::machine::cpu::lookup("epyc").unwrap();
    image.machine(epyc, rig::machine::Accel::Tcg, &rig::machine::Shape::nested(512, 2))
}

/// Fails the test unless qemu-system-x86_64 is installed.
pub fn require_qemu() {
    assert!(
        rig::host::prereqs::have_program("qemu-system-x86_64"),
        "qemu-system-x86_64 is missing: these tests boot real guests. Install it with \
         `apt-get install qemu-system-x86 qemu-utils` or run the suite through `cargo xtask test`, which installs it"
    );
}

/// One heavy guest (a coal stand-in: minutes of TCG boots and reboots) at a time per test
/// process. Two at once on a 2-core CI host, next to whatever else loads it, starved each
/// other's boots past any deadline; one at a time, each gets a core. Hold the guard while the
/// test's guests run.
pub async fn heavy_guest_slot() -> tokio::sync::MutexGuard<'static, ()> {
    static SLOT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SLOT.lock().await
}

/// A test case written from YAML into the build directory and loaded as the rig loads one.
pub fn case(name: &str, yaml: &str) -> rig::case::LoadedCase {
    let dir = build_dir().join("test-cases");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}-{}.yaml", std::process::id()));
    std::fs::write(&file, yaml).unwrap();
    rig::case::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh directory for one test's evidence.
pub fn evidence_dir(name: &str) -> PathBuf {
    let base = build_dir().join("test-runs");
    rig::rundir::create(&base, name).expect("creating a test evidence directory")
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}
