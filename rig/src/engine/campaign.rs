//! A campaign: every case on every CPU model, iteration after iteration. Guests are booted
//! when needed and replaced after a panic, a hang or a failure, so the next iteration starts
//! from a fresh boot. The report is rewritten after every iteration.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::iteration::{self, IterationSpec};
use super::outcome::{Outcome, judge};
use super::steps::{StepError, run_block};
use super::watch::Watcher;
use crate::bootcheck;
use crate::case::{LoadedCase, VendorReq};
use crate::crash::Os;
use crate::guest::{Guest, SshKeys};
use crate::image::LinuxImage;
use crate::machine::{Accel, Boot, CpuModel, MachineSpec, Vendor};
use crate::report::{self, CaseRun, IterationResult, RunReport};

/// What to run.
pub struct Plan {
    /// The cases.
    pub cases: Vec<LoadedCase>,
    /// The CPU models.
    pub cpus: Vec<&'static CpuModel>,
    /// The accelerator.
    pub accel: Accel,
    /// Overrides every case's iteration count.
    pub iterations: Option<u32>,
    /// Where images are built and cached.
    pub build_dir: PathBuf,
    /// The run's evidence directory.
    pub run_dir: PathBuf,
    /// The seed of all random choices.
    pub seed: u64,
    /// Run every case on each of these images and compare them (overrides a case's `compare`).
    pub compare: Option<Vec<String>>,
    /// Stop a case × CPU × image at its first panic matching this (Some(None): the case's
    /// hunted signature, or any panic).
    pub until_panic: Option<Option<String>>,
    /// Dumps at panics and hangs.
    pub dumps: crate::dump::DumpOptions,
}

/// Progress, for the command line's progress line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The case.
    pub case: String,
    /// The CPU model.
    pub cpu: String,
    /// Iterations done.
    pub done: u32,
    /// Iterations planned.
    pub of: u32,
    /// Panics so far on this case × CPU.
    pub panics: u32,
    /// Seconds since this case × CPU began.
    pub elapsed: f64,
    /// The last iteration's outcome word.
    pub last: String,
}

/// Why a case cannot run on a CPU model here, if it cannot. Pure.
pub fn skip_reason(req: VendorReq, nested: bool, cpu: &CpuModel, accel: Accel) -> Option<String> {
    let vendor_ok = match req {
        VendorReq::Any => true,
        VendorReq::Amd => cpu.vendor == Vendor::Amd,
        VendorReq::Intel => cpu.vendor == Vendor::Intel,
    };
    if !vendor_ok {
        return Some(format!("skipped: the case needs an {req:?} CPU model, '{}' is {}", cpu.name, cpu.vendor));
    }
    bootcheck::skip_reason(cpu, nested, accel)
}

/// Runs the plan; `progress` is called after every iteration.
pub async fn run(plan: &Plan, progress: &mut (dyn FnMut(&Progress) + Send)) -> RunReport {
    let mut report = RunReport {
        schema: report::model::SCHEMA,
        accel: plan.accel.as_str().into(),
        seed: plan.seed,
        run_dir: plan.run_dir.display().to_string(),
        stopped_early: None,
        runs: Vec::new(),
        comparisons: Vec::new(),
    };
    for lc in &plan.cases {
        let images: Vec<String> = match (&plan.compare, lc.case.compare.is_empty()) {
            (Some(list), _) => list.clone(),
            (None, false) => lc.case.compare.clone(),
            (None, true) => vec![lc.case.guest.image.clone()],
        };
        for &cpu in &plan.cpus {
            let mut group = Vec::new();
            for image in &images {
                let mut lc = lc.clone();
                lc.case.guest.image = image.clone();
                let c = &lc.case;
                let planned = plan.iterations.unwrap_or(c.iterations);
                report.runs.push(CaseRun {
                    case: c.name.clone(),
                    file: lc.file.display().to_string(),
                    cpu: cpu.name.into(),
                    image: image.clone(),
                    iterations_planned: planned,
                    compared: images.len() > 1,
                    stopped: None,
                    not_run: None,
                    iterations: Vec::new(),
                    tally: Default::default(),
                });
                let idx = report.runs.len() - 1;
                group.push(idx);
                run_case(plan, &lc, cpu, planned, &mut report, idx, progress).await;
                write_report(plan, &report);
            }
            if group.len() > 1 {
                let runs: Vec<&CaseRun> = group.iter().map(|&i| &report.runs[i]).collect();
                let cmp = super::compare::compare(&runs, lc.case.hunts.as_ref());
                report.comparisons.push(cmp);
                write_report(plan, &report);
            }
        }
    }
    report
}

fn write_report(plan: &Plan, r: &RunReport) {
    if let Err(e) = report::write(&plan.run_dir, r) {
        tracing::error!("writing the report in {}: {e}", plan.run_dir.display());
    }
}

/// A booted guest with its watcher.
struct Session {
    guest: Guest,
    watcher: Watcher,
}

async fn run_case(plan: &Plan, lc: &LoadedCase, cpu: &'static CpuModel, planned: u32, report: &mut RunReport, idx: usize, progress: &mut (dyn FnMut(&Progress) + Send)) {
    let c = &lc.case;
    if let Some(reason) = skip_reason(c.guest.vendor, c.guest.nested, cpu, plan.accel) {
        report.runs[idx].not_run = Some(Outcome::Skipped { reason });
        return;
    }
    let image = match load_image(&plan.build_dir, &c.guest.image).await {
        Ok(i) => i,
        Err(e) => {
            report.runs[idx].not_run = Some(Outcome::Infra { reason: format!("{e:#}") });
            return;
        }
    };
    let dir = crate::rundir::subdir(&plan.run_dir, &format!("{}/{}", c.name, cpu.name)).unwrap_or_else(|_| plan.run_dir.clone());
    let began = Instant::now();
    let run_deadline = began + Duration::from_secs(c.deadlines.run_secs);
    let boot_timeout = Duration::from_secs(c.deadlines.boot_secs);
    let mut session: Option<Session> = None;
    let mut boots = 0u32;
    for i in 1..=planned {
        if Instant::now() >= run_deadline {
            report.stopped_early = Some(format!("{} on {}: the run deadline ({} s) passed after {} iterations", c.name, cpu.name, c.deadlines.run_secs, i - 1));
            break;
        }
        let seed = plan.seed ^ (u64::from(i) << 32) ^ fxhash(&c.name) ^ fxhash(cpu.name);
        let iteration_secs = Duration::from_secs(c.deadlines.iteration_secs);
        let (outcome, secs, steps, evidence) = match &session {
            Some(s) => ran(plan, s, c, cpu, boot_timeout, (Instant::now() + iteration_secs).min(run_deadline), seed, i).await,
            None => {
                boots += 1;
                let gdir = dir.join(format!("boot-{boots}"));
                match boot(plan, &image, c, cpu, &gdir, boot_timeout).await {
                    Ok(s) => {
                        let r = ran(plan, &s, c, cpu, boot_timeout, (Instant::now() + iteration_secs).min(run_deadline), seed, i).await;
                        session = Some(s);
                        r
                    }
                    Err(o) => (o, 0.0, Vec::new(), gdir.display().to_string()),
                }
            }
        };
        let verdict = judge(&c.expect, &outcome);
        let fresh_boot_next = !matches!(outcome, Outcome::Completed);
        let run = &mut report.runs[idx];
        run.iterations.push(IterationResult { index: i, outcome, verdict, secs, seed, evidence, steps });
        run.retally();
        progress(&Progress {
            case: c.name.clone(),
            cpu: cpu.name.into(),
            done: i,
            of: planned,
            panics: run.tally.panics,
            elapsed: began.elapsed().as_secs_f64(),
            last: run.iterations.last().map(|x| x.outcome.word().to_string()).unwrap_or_default(),
        });
        write_report(plan, report);
        if fresh_boot_next && let Some(s) = session.take() {
            s.guest.kill().await;
        }
        if let Some(wanted) = &plan.until_panic {
            let last = &report.runs[idx].iterations.last().expect("just pushed").outcome;
            let hit = match wanted {
                Some(title) => matches!(last, Outcome::Panic { title: t, .. } if t == title),
                None => super::compare::matches(c.hunts.as_ref(), last),
            };
            if hit {
                report.runs[idx].stopped = Some(format!("--until-panic: first matching panic at iteration {i}"));
                break;
            }
        }
    }
    if let Some(wanted) = &plan.until_panic
        && report.runs[idx].stopped.is_none()
        && report.runs[idx].not_run.is_none()
    {
        let seen: Vec<String> = report.runs[idx].tally.titles.iter().map(|(t, _)| t.clone()).collect();
        report.runs[idx].stopped = Some(format!(
            "--until-panic: no panic matching {} in {} iterations{}",
            wanted.as_deref().map(|t| format!("'{t}'")).unwrap_or_else(|| "the hunted signature".into()),
            report.runs[idx].iterations.len(),
            if seen.is_empty() { String::new() } else { format!(" (seen: {})", seen.join("; ")) }
        ));
    }
    if let Some(s) = session.take() {
        s.guest.shutdown().await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn ran(
    plan: &Plan,
    s: &Session,
    c: &crate::case::Case,
    cpu: &'static CpuModel,
    boot_timeout: Duration,
    deadline: Instant,
    seed: u64,
    index: u32,
) -> (Outcome, f64, Vec<crate::engine::ctx::StepRecord>, String) {
    let dir = s.guest.dir().join(format!("iteration-{index}"));
    let spec = IterationSpec { steps: &c.steps, cpu, nested: c.guest.nested, boot_timeout, deadline, seed, dir: &dir, dumps: &plan.dumps };
    let r = iteration::run(&s.guest.link(), &s.watcher, &spec).await;
    (r.outcome, r.secs, r.steps, s.guest.dir().display().to_string())
}

/// Boots a fresh guest for the case, waits until it is ready and runs the case's setup steps.
async fn boot(plan: &Plan, image: &LinuxImage, c: &crate::case::Case, cpu: &'static CpuModel, dir: &std::path::Path, boot_timeout: Duration) -> Result<Session, Outcome> {
    let mut append = image.cmdline.clone();
    for a in &c.guest.kernel_args {
        append.push(' ');
        append.push_str(a);
    }
    let boot = Boot::Kernel { kernel: image.kernel.clone(), initrd: image.initrd.clone(), append };
    let mut spec = MachineSpec::kernel_boot(cpu, plan.accel, boot);
    spec.nested = c.guest.nested;
    spec.memory_mib = c.guest.memory_mib;
    spec.vcpus = c.guest.vcpus;
    let profile = crate::profile::for_image(&c.guest.image).cloned().unwrap_or(crate::profile::LINUX);
    let keys = SshKeys { client_key: image.client_key.clone(), host_key: image.host_key.clone() };
    let guest = Guest::launch(spec, profile, keys, dir).await.map_err(|e| Outcome::Infra { reason: format!("{e:#}") })?;
    let watcher = Watcher::start(&guest.link(), Os::Linux);
    if let Err(e) = guest.wait_ready(Instant::now() + boot_timeout).await {
        let tail = guest.console().tail(30).join("\n");
        guest.kill().await;
        return Err(Outcome::Infra { reason: format!("the guest never became ready: {e}\nlast console lines:\n{tail}\nevidence: {}", dir.display()) });
    }
    if !c.setup.is_empty() {
        let ctx = super::ctx::Ctx::new(guest.link(), cpu, c.guest.nested, boot_timeout, plan.seed);
        if let Err(e) = run_block(&ctx, &c.setup).await {
            guest.kill().await;
            return Err(match e {
                StepError::Failed { step, reason } | StepError::Guest { step, reason } => Outcome::StepFailed { step: format!("setup: {step}"), reason },
                StepError::Infra(reason) => Outcome::Infra { reason },
                StepError::Interrupted => Outcome::Infra { reason: "setup interrupted by a reboot".into() },
            });
        }
    }
    Ok(Session { guest, watcher })
}

async fn load_image(build_dir: &std::path::Path, name: &str) -> anyhow::Result<LinuxImage> {
    let (dir, n) = (build_dir.to_path_buf(), name.to_string());
    tokio::task::spawn_blocking(move || crate::image::ensure_image(&dir, &n)).await?
}

/// A small stable hash for seeding (FNV-1a).
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::cpu::lookup;

    #[test]
    fn vendor_requirements_skip() {
        let why = skip_reason(VendorReq::Amd, false, lookup("cascadelake").unwrap(), Accel::Kvm).unwrap();
        assert!(why.contains("needs an Amd CPU model"), "{why}");
        assert!(skip_reason(VendorReq::Amd, true, lookup("epyc").unwrap(), Accel::Tcg).is_none());
        assert!(skip_reason(VendorReq::Any, true, lookup("icelake").unwrap(), Accel::Tcg).unwrap().contains("needs KVM"));
    }

    #[test]
    fn seeds_are_stable() {
        assert_eq!(fxhash("a"), 0xaf63dc4c8601ec8c);
    }
}
