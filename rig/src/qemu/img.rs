//! `qemu-img`: the one place that runs it, to create the qcow2 files the rig boots from or
//! saves VM states in.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Creates the empty qcow2 file `name` of `size` (`4G`) in `dir`.
pub fn create(dir: &Path, name: &str, size: &str) -> Result<()> {
    run(dir, &["create", "-q", "-f", "qcow2", name, size])
}

/// Creates the qcow2 overlay `name` in `dir` over the raw file `backing`, also in `dir`; the
/// backing file is recorded by its name alone, so the folder can move.
pub fn overlay(dir: &Path, name: &str, backing: &str) -> Result<()> {
    run(dir, &["create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", name])
}

fn run(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("qemu-img")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running qemu-img (Debian package qemu-utils)")?;
    if !out.status.success() {
        bail!(
            "qemu-img {} in {} failed: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
