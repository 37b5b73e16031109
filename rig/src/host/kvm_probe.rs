//! The bounded KVM probe: boot the default image's kernel under KVM and wait a few seconds for
//! its ready marker. On some hosts /dev/kvm opens but guests hang without a byte of output
//! (ours do), or QEMU aborts setting MSRs; only a real boot tells.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::accel::KvmStatus;
use crate::console::Pattern;
use crate::guest::Guest;
use crate::guest_os::Target;
use crate::machine::{Accel, Shape, cpu};

/// How long a KVM guest gets to print its ready marker: a working KVM needs about one second.
pub fn probe_timeout() -> Duration {
    let secs = std::env::var("RIG_KVM_PROBE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0f64);
    Duration::from_secs_f64(secs.max(1.0))
}

/// Boots `image` once under KVM (no nesting, 1 vCPU, qemu64) with evidence in `dir`.
pub async fn probe(image: &dyn Target, dir: &Path, timeout: Duration) -> KvmStatus {
    if let Err(detail) = super::accel::dev_kvm(Path::new("/dev/kvm")) {
        return KvmStatus { usable: false, detail };
    }
    let model = cpu::CPU_MODELS.iter().find(|m| m.name == "epyc").expect("epyc in table");
    let shape = Shape { memory_mib: 512, vcpus: 1, nested: false, hide_virt: false, kernel_args: Vec::new() };
    let mut spec = match image.machine(&shape, model, Accel::Kvm) {
        Ok(s) => s,
        Err(e) => return KvmStatus { usable: false, detail: format!("no machine for the probe image: {e:#}") },
    };
    spec.nics.clear();
    // qemu64 is the most portable model; the probe asks whether KVM runs a guest at all.
    spec.extra_args = vec!["-cpu".into(), "qemu64".into()];
    let keys = image.keys();
    let began = Instant::now();
    let profile = image.profile().clone();
    let ready = Pattern::regex(profile.ready.pattern()).expect("valid pattern");
    let guest = match Guest::launch(spec, profile, keys, dir).await {
        Ok(g) => g,
        Err(e) => {
            return KvmStatus {
                usable: false,
                detail: format!("QEMU failed to start a KVM guest: {}", one_line(&format!("{e:#}"))),
            };
        }
    };
    let r = guest.console().wait_for(&ready, 0, began + timeout).await;
    let status = match r {
        Ok(_) => {
            KvmStatus { usable: true, detail: format!("a KVM guest booted in {:.1}s", began.elapsed().as_secs_f64()) }
        }
        Err(e) if e.closed => KvmStatus {
            usable: false,
            detail: format!(
                "QEMU exited during a KVM boot: {}",
                one_line(&std::fs::read_to_string(dir.join("qemu.stderr")).unwrap_or_default())
            ),
        },
        Err(e) => KvmStatus {
            usable: false,
            detail: format!(
                "a KVM guest hung: {} console lines and no ready marker in {:.0}s",
                e.tail.len(),
                timeout.as_secs_f64()
            ),
        },
    };
    guest.shutdown().await;
    status
}

fn one_line(s: &str) -> String {
    let s: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let joined = s.join("; ");
    if joined.len() > 300 { format!("{}...", &joined[..joined.floor_char_boundary(300)]) } else { joined }
}
