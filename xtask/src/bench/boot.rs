//! Boot overhead: QEMU start to SSH-ready through the rig (QMP, console task, ready marker,
//! SSH) against bare QEMU with the same machine and a minimal SSH poll.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rig::guest::Guest;
use rig::guest_os::Target;
use rig::host::AccelChoice;
use rig::machine::{Accel, ChannelFds, MachineSpec, cpu, qemu_args};
use rig::qemu::qemu_binary;
use rig::ssh::{Ssh, SshTarget};
use tokio::time::Instant;

use super::stats::median;

/// The measured figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BootBench {
    /// Seconds to SSH-ready through the rig, per run.
    pub rig_secs: Vec<f64>,
    /// Seconds to SSH-ready with bare QEMU, per run.
    pub bare_secs: Vec<f64>,
    /// Median through the rig.
    pub rig_median: f64,
    /// Median of bare QEMU.
    pub bare_median: f64,
    /// What the rig adds, in percent of the bare median.
    pub overhead_pct: f64,
}

/// Measures `runs` boots per side on the default guest, prints the figures and writes
/// `<out>/boot.json`.
pub async fn run(accel: AccelChoice, runs: usize, out: &Path) -> Result<()> {
    let setup = super::setup(accel).await?;
    if let Some(w) = &setup.warning {
        eprintln!("*** WARNING: {w} ***");
    }
    let dir = rig::rundir::create(out, "boot")?;
    let b = measure(setup.image.as_ref(), setup.accel, runs.max(1), &dir).await?;
    outln!(
        "boot to SSH-ready ({}, median of {}): rig {:.2}s, bare QEMU {:.2}s, overhead {:+.1}% (target <= 5%)",
        setup.accel.as_str(),
        b.rig_secs.len(),
        b.rig_median,
        b.bare_median,
        b.overhead_pct
    );
    super::write_json(out, "boot", &b)
}

/// The rig's usual guest: an EPYC model, 512 MiB, 2 vCPUs, nested virtualization asked.
fn machine(image: &dyn Target, accel: Accel) -> Result<MachineSpec> {
    image.machine(&rig::machine::Shape::nested(512, 2), cpu::lookup("epyc").expect("epyc"), accel)
}

/// One boot through the rig: launch to a working SSH session.
async fn rig_once(image: &dyn Target, accel: Accel, dir: &Path) -> Result<f64> {
    let keys = image.keys();
    let began = Instant::now();
    let g = Guest::launch(machine(image, accel)?, image.profile().clone(), keys, dir).await?;
    g.wait_ready(began + Duration::from_secs(120)).await?;
    let secs = began.elapsed().as_secs_f64();
    g.shutdown().await;
    Ok(secs)
}

/// One boot of bare QEMU (same machine, serial to a file, no QMP) polled with plain SSH
/// connects until `true` runs.
async fn bare_once(image: &dyn Target, accel: Accel, dir: &Path) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut spec = machine(image, accel)?;
    spec.nics[0].forwards[0].host_port = port;
    spec.serial_ports = 0;
    let mut args = qemu_args(&spec, &ChannelFds { qmp: None, serials: vec![] });
    args.extend(["-serial".to_string(), format!("file:{}", dir.join("ttyS0.log").display())]);
    let began = Instant::now();
    let mut child = tokio::process::Command::new(qemu_binary())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting bare QEMU")?;
    let keys = image.keys();
    let target = SshTarget {
        addr: ([127, 0, 0, 1], port).into(),
        user: image.profile().ssh_user.into(),
        client_key: keys.client_key,
        host_key: keys.host_key,
    };
    let deadline = began + Duration::from_secs(120);
    let secs = loop {
        if Instant::now() > deadline {
            bail!("bare QEMU guest not reachable over SSH in 120 s");
        }
        // Short attempts: before the guest listens, QEMU accepts TCP and the handshake hangs.
        if let Ok(s) = Ssh::connect(&target, Duration::from_millis(500)).await
            && s.exec("true", Duration::from_secs(5)).await.is_ok_and(|o| o.status == Some(0))
        {
            let secs = began.elapsed().as_secs_f64();
            s.close().await;
            break secs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill().await;
    Ok(secs)
}

/// Alternates rig and bare boots, `runs` of each, and compares medians.
async fn measure(image: &dyn Target, accel: Accel, runs: usize, dir: &Path) -> Result<BootBench> {
    let (mut rig_secs, mut bare_secs) = (Vec::new(), Vec::new());
    for i in 0..runs {
        bare_secs.push(bare_once(image, accel, &dir.join(format!("bare-{i}"))).await?);
        rig_secs.push(rig_once(image, accel, &dir.join(format!("rig-{i}"))).await?);
        tracing::info!(run = i, rig = rig_secs[i], bare = bare_secs[i], "boot bench");
    }
    let (rig_median, bare_median) = (median(&rig_secs), median(&bare_secs));
    Ok(BootBench {
        overhead_pct: (rig_median - bare_median) / bare_median * 100.0,
        rig_secs,
        bare_secs,
        rig_median,
        bare_median,
    })
}
