//! The `check_cpu` step's check from inside a running guest: its CPU is what was asked (vendor,
//! model name) and, with nesting, the virtualization flag is there and the module driving it
//! is loaded (the profile says which and how to list modules). The text is read over SSH; [`crate::identity`] judges it.

use std::time::Duration;

use serde::Serialize;

use crate::guest::GuestLink;
use crate::identity::{self, CpuIdentity};
use crate::machine::CpuModel;

/// What the guest's CPU check found.
#[derive(Debug, Clone, Serialize)]
pub struct GuestCpuCheck {
    /// Everything asked for is there.
    pub ok: bool,
    /// One line per check.
    pub findings: Vec<String>,
    /// What the guest reported.
    pub identity: CpuIdentity,
}

/// Checks from inside the guest that its CPU is `cpu` (vendor, model name) and, when `nested`,
/// that the virtualization flag is there and the guest's module for it loaded.
pub async fn check_cpu(link: &GuestLink, cpu: &CpuModel, nested: bool) -> anyhow::Result<GuestCpuCheck> {
    let text = link.run(link.profile().cpuinfo_command, Duration::from_secs(10)).await?;
    let id = identity::parse_cpuinfo(&text);
    let check = identity::check(cpu, nested, &id);
    let (mut ok, mut findings) = (check.ok, check.findings);
    if nested && let Some(module) = link.profile().virt_module(cpu.vendor) {
        let modules = link.run(link.profile().modules_command, Duration::from_secs(10)).await?;
        let loaded = modules.lines().any(|l| l.split_whitespace().next() == Some(module));
        findings.push(format!(
            "{}: {module} {}",
            if loaded { "ok" } else { "MISMATCH" },
            if loaded { "loaded" } else { "not loaded" }
        ));
        ok &= loaded;
    }
    Ok(GuestCpuCheck { ok, findings, identity: id })
}
