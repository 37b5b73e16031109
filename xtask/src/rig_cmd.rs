//! `cargo xtask rig`: boot guests with the chosen CPU models and check them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use rig::bootcheck::{self, BootCheckOptions, BootCheckResult, Outcome};
use rig::host::AccelChoice;
use rig::machine::{CpuModel, cpu};

use crate::{exit, paths};

const EXAMPLES: &str = "Examples:
  cargo xtask rig --cpu epyc                  boot the default guest on an AMD EPYC model
  cargo xtask rig --cpu epyc,cascadelake      a matrix: one guest per model
  cargo xtask rig --cpu epyc --accel tcg      skip the KVM probe, emulate
  cargo xtask rig --cpu host --accel kvm      the host CPU; fail if KVM is unusable
  cargo xtask rig --cpu skylake --no-nested   an Intel model without VMX";

/// Arguments of `cargo xtask rig`.
#[derive(Args, Debug)]
#[command(after_help = format!("{}\n\n{EXAMPLES}", exit::HELP))]
pub struct RigArgs {
    /// CPU model, or a comma-separated list (a matrix). Models: epyc, epyc-rome, epyc-milan,
    /// skylake, cascadelake, icelake, host (KVM only). AMD models get +svm,+npt,+nrip-save,
    /// Intel models +vmx, unless --no-nested.
    #[arg(long, default_value = "epyc", value_name = "MODEL[,MODEL...]")]
    pub cpu: String,
    /// Accelerator: `auto` probes whether KVM really runs a guest (cached per host boot) and
    /// falls back to TCG with a warning; `kvm` fails if KVM is unusable; `tcg` emulates.
    #[arg(long, default_value = "auto", value_name = "auto|kvm|tcg")]
    pub accel: String,
    /// Guest image.
    #[arg(long, default_value = "linux")]
    pub image: String,
    /// Do not expose SVM/VMX to the guest.
    #[arg(long)]
    pub no_nested: bool,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB")]
    pub memory: u32,
    /// Guest vCPUs (races need real concurrency: at least 2 by default).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub vcpus: u32,
    /// Seconds from QEMU start until the guest must answer over SSH.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub boot_timeout: u64,
    /// Where run directories are created [default: build/runs in the workspace].
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
}

/// The validated form of the arguments.
#[derive(Debug)]
struct Plan {
    cpus: Vec<&'static CpuModel>,
    accel: AccelChoice,
}

fn validate(a: &RigArgs) -> Result<Plan, String> {
    let cpus = cpu::parse_list(&a.cpu).map_err(|e| e.to_string())?;
    let accel = a.accel.parse()?;
    if a.memory < 128 {
        return Err(format!("--memory {} is too small: the guest needs at least 128 MiB", a.memory));
    }
    if a.vcpus == 0 {
        return Err("--vcpus must be at least 1".into());
    }
    if a.boot_timeout == 0 {
        return Err("--boot-timeout must be at least 1 second".into());
    }
    Ok(Plan { cpus, accel })
}

/// Runs the command; returns the exit code.
pub async fn run(a: &RigArgs) -> Result<i32> {
    let plan = match validate(a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    if !rig::image::known_images().contains(&a.image.as_str()) {
        eprintln!("error: unknown image '{}'; known images: {}", a.image, rig::image::known_images().join(", "));
        return Ok(exit::USAGE);
    }
    let setup = match rig::setup::prepare(&paths::build_dir(), &a.image, plan.accel).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::INFRA);
        }
    };
    if let Some(w) = &setup.warning {
        eprintln!("\n*** WARNING: {w} ***\n");
    }
    let run_dir = rig::rundir::create(&a.runs_dir.clone().unwrap_or_else(paths::runs_dir), "rig")?;
    println!("rig: image {} (kernel {}), accelerator {}, evidence in {}", setup.image.name, setup.image.kernel_release, setup.accel.as_str(), run_dir.display());
    let mut results: Vec<BootCheckResult> = Vec::new();
    for model in &plan.cpus {
        let o = BootCheckOptions {
            cpu: model,
            nested: !a.no_nested,
            accel: setup.accel,
            memory_mib: a.memory,
            vcpus: a.vcpus,
            boot_timeout: Duration::from_secs(a.boot_timeout),
        };
        let dir = rig::rundir::subdir(&run_dir, model.name)?;
        let r = bootcheck::run(&setup.image, &o, &dir).await;
        print_row(&r);
        results.push(r);
        write_summary(&run_dir, &setup, &results)?;
    }
    println!("evidence: {}", run_dir.display());
    let code = if results.iter().any(|r| matches!(r.outcome, Outcome::Error(_))) {
        exit::INFRA
    } else if results.iter().any(|r| r.outcome == Outcome::Mismatch) {
        exit::EXPECTATION_FAILED
    } else {
        exit::OK
    };
    Ok(code)
}

fn print_row(r: &BootCheckResult) {
    let (word, detail) = match &r.outcome {
        Outcome::Pass => ("pass", r.findings.iter().map(|f| f.trim_start_matches("ok: ")).collect::<Vec<_>>().join(", ")),
        Outcome::Mismatch => ("MISMATCH", r.findings.iter().filter(|f| f.starts_with("MISMATCH")).cloned().collect::<Vec<_>>().join(", ")),
        Outcome::Skipped(why) => ("skipped", why.clone()),
        Outcome::Error(e) => ("ERROR", e.clone()),
    };
    let ssh = r.boot.as_ref().map(|b| format!("ssh {:.1}s", b.ssh_secs)).unwrap_or_else(|| "-".into());
    println!("  {:<12} {:<9} {:<10} {detail}", r.cpu, word, ssh);
}

fn write_summary(dir: &std::path::Path, setup: &rig::setup::Setup, results: &[BootCheckResult]) -> Result<()> {
    let summary = serde_json::json!({
        "image": { "name": setup.image.name, "kernel_release": setup.image.kernel_release, "manifest": setup.image.manifest },
        "accel": setup.accel.as_str(),
        "warning": setup.warning,
        "kvm_probe": setup.kvm,
        "results": results,
    });
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&summary)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: RigArgs,
    }

    fn plan(args: &[&str]) -> Result<Plan, String> {
        validate(&T::parse_from(std::iter::once("rig").chain(args.iter().copied())).a)
    }

    #[test]
    fn defaults_to_epyc_auto() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.cpus[0].name, "epyc");
        assert_eq!(p.accel, AccelChoice::Auto);
    }

    #[test]
    fn bad_input_is_explained() {
        assert!(plan(&["--cpu", "pentium"]).unwrap_err().contains("valid models: epyc"));
        assert!(plan(&["--accel", "xen"]).unwrap_err().contains("auto, kvm, tcg"));
        assert!(plan(&["--vcpus", "0"]).is_err());
        assert_eq!(plan(&["--cpu", "epyc,cascadelake"]).unwrap().cpus.len(), 2);
    }
}
