//! How loaded the machine is right now, measured: a test's deadlines and time bounds are the
//! figures of a quiet machine times the pace, so they hold on a busy CI host without being
//! loose on a quiet one.

use std::time::Duration;

use rig::guest::{BootInfo, Guest};
use rig::guest_os::linux::LINUX;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// The default guest's boot to a working SSH session under TCG on a quiet 2-core host
/// (`docs/linux-guest-trial.md`: 2.9 to 3.3 s), rounded up.
pub const QUIET_BOOT_SECS: f64 = 4.0;

/// The most a pace may say: beyond this the machine is not loaded but broken, and the test
/// should fail on its quiet figures' fourfold rather than wait without end (a CPU hog on
/// both cores of a 2-core host measured about 2.5).
const MAX_PACE: f64 = 4.0;

/// A slowdown factor against a quiet machine: at least 1 (a fast KVM host keeps the quiet
/// figures), at most 4.
#[derive(Debug, Clone, Copy)]
pub struct Pace(pub f64);

impl Pace {
    /// From the seconds a boot of the default guest to SSH took.
    pub fn of_boot_secs(secs: f64) -> Pace {
        Pace((secs / QUIET_BOOT_SECS).clamp(1.0, MAX_PACE))
    }

    /// From a boot of the default guest the test measured.
    pub fn of_boot(b: &BootInfo) -> Pace {
        Pace::of_boot_secs(b.ssh_secs)
    }

    /// From the boot of a guest the test booted (quiet pace if it never came up).
    pub fn of(guest: &Guest) -> Pace {
        guest.link().boot().map_or(Pace(1.0), |b| Pace::of_boot(&b))
    }

    /// A quiet machine's figure, scaled.
    pub fn scale(self, quiet: Duration) -> Duration {
        quiet.mul_f64(self.0)
    }

    /// A quiet machine's figure in seconds, scaled.
    pub fn secs(self, quiet: u64) -> Duration {
        self.scale(Duration::from_secs(quiet))
    }
}

/// The pace measured once per test process by booting the default guest (an EPYC model) to
/// SSH, for tests that do not see their guests' boots.
pub async fn measured() -> Pace {
    static PACE: OnceCell<Pace> = OnceCell::const_new();
    *PACE
        .get_or_init(|| async {
            let image = super::image();
            let dir = super::evidence_dir("pace");
            let guest = Guest::launch(super::epyc_machine(&image), LINUX, image.ssh_keys(), &dir)
                .await
                .expect("launching the guest that measures the pace");
            let boot = guest
                .wait_ready(Instant::now() + Duration::from_secs(600))
                .await
                .expect("booting the guest that measures the pace");
            guest.kill().await;
            let pace = Pace::of_boot(&boot);
            eprintln!("pace: the default guest booted to SSH in {:.1} s: deadlines x{:.2}", boot.ssh_secs, pace.0);
            pace
        })
        .await
}
