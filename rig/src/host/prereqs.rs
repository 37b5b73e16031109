//! Host prerequisites: the programs the rig runs, and the Debian packages that provide them.
//! On a Debian/Ubuntu host as root, what is missing is installed with apt-get (saying so);
//! otherwise the exact command is printed in the error.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A program the rig needs, and the Debian package that ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The program looked up on PATH.
    pub program: &'static str,
    /// The Debian package providing it.
    pub package: &'static str,
}

/// What every run needs. Image recipes add their own (see `image::host_packages`).
pub const BASE_NEEDS: &[Need] = &[
    Need { program: "qemu-system-x86_64", package: "qemu-system-x86" },
    Need { program: "qemu-img", package: "qemu-utils" },
];

/// Where `program` is: itself when it is a path, else its first match on PATH.
pub fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Whether `program` is on PATH (or is an existing path).
pub fn have_program(program: &str) -> bool {
    which(Path::new(program)).is_some()
}

/// The packages to install for the needs that are not met, in a stable order.
pub fn missing_packages(needs: &[Need], have: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let mut pkgs: Vec<&'static str> = needs.iter().filter(|n| !have(n.program)).map(|n| n.package).collect();
    pkgs.sort();
    pkgs.dedup();
    pkgs
}

/// The apt-get command line for `packages`.
///
/// QEMU pitfall: our hosts may carry qemu-utils from backports (newer than the distribution's
/// qemu-system-x86); installing qemu-system-x86 alone then *removes* it. So whenever
/// qemu-system-x86 is installed, qemu-utils is installed with it, pinned to the same version
/// (`qemu_version`, the candidate of qemu-system-x86), downgrading if needed.
pub fn apt_command(packages: &[&str], qemu_version: Option<&str>) -> Vec<String> {
    let mut cmd: Vec<String> = ["apt-get", "install", "-y", "--no-install-recommends"].map(String::from).to_vec();
    let qemu = packages.contains(&"qemu-system-x86");
    if qemu {
        cmd.push("--allow-downgrades".into());
    }
    for p in packages {
        if qemu && *p == "qemu-utils" {
            continue;
        }
        cmd.push(p.to_string());
    }
    if qemu {
        cmd.push(match qemu_version {
            Some(v) => format!("qemu-utils={v}"),
            None => "qemu-utils".into(),
        });
    }
    cmd
}

/// Reads `Candidate:` from `apt-cache policy` output.
pub fn parse_candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "(none)")
}

fn candidate(package: &str) -> Option<String> {
    let out = Command::new("apt-cache").args(["policy", package]).output().ok()?;
    parse_candidate(&String::from_utf8_lossy(&out.stdout))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Makes sure every need is met, installing what is missing when allowed. apt's full output
/// goes to `log` (appended); the terminal gets one line per package installed.
pub fn ensure(needs: &[Need], log: &Path) -> Result<()> {
    let missing = missing_packages(needs, have_program);
    if missing.is_empty() {
        return Ok(());
    }
    let programs: Vec<&str> = needs.iter().filter(|n| !have_program(n.program)).map(|n| n.program).collect();
    if !have_program("apt-get") {
        bail!(
            "missing host programs: {}; this host has no apt-get, so install the packages providing them ({}) with its package manager",
            programs.join(", "),
            missing.join(" ")
        );
    }
    let qemu_version = missing.contains(&"qemu-system-x86").then(|| candidate("qemu-system-x86")).flatten();
    let cmd = apt_command(&missing, qemu_version.as_deref());
    if !is_root() {
        bail!(
            "missing host programs: {}; install them as root with:\n    sudo apt-get update && sudo {}",
            programs.join(", "),
            cmd.join(" ")
        );
    }
    eprintln!("rig: installing missing host packages: {}", missing.join(" "));
    let needs_update = missing.iter().any(|p| candidate(p).is_none());
    if needs_update {
        run(&["apt-get", "update", "-qq"], log)?;
    }
    // The candidate may only be known after the update.
    let qemu_version = missing.contains(&"qemu-system-x86").then(|| candidate("qemu-system-x86")).flatten();
    let cmd = apt_command(&missing, qemu_version.as_deref());
    let argv: Vec<&str> = cmd.iter().map(String::as_str).collect();
    run(&argv, log)?;
    let still: Vec<&str> = needs.iter().filter(|n| !have_program(n.program)).map(|n| n.program).collect();
    if !still.is_empty() {
        bail!("after `{}`, still missing: {}", cmd.join(" "), still.join(", "));
    }
    Ok(())
}

/// Makes sure apt knows the packages images are built from (a fresh machine may have no
/// package lists): runs `apt-get update` once when `probe_package` has no candidate.
pub fn ensure_apt_lists(probe_package: &str, log: &Path) -> Result<()> {
    if !have_program("apt-cache") || candidate(probe_package).is_some() {
        return Ok(());
    }
    if !is_root() {
        bail!("apt has no package lists (it does not know {probe_package}); run `sudo apt-get update` first");
    }
    eprintln!("rig: apt has no package lists; running apt-get update");
    run(&["apt-get", "update", "-qq"], log)
}

/// The packages apt says it set up (`Setting up qemu-utils:amd64 (1:7.2+dfsg-7+deb12u16) ...`),
/// as name and version.
pub fn set_up_packages(apt_output: &str) -> Vec<(String, String)> {
    apt_output
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Setting up ")?;
            let (name, rest) = rest.split_once(" (")?;
            let version = rest.split_once(')')?.0;
            Some((name.split(':').next().unwrap_or(name).to_string(), version.to_string()))
        })
        .collect()
}

/// Runs an apt command with its output appended to `log`; says each package it set up, and on
/// failure the end of its output and where the rest is.
fn run(argv: &[&str], log: &Path) -> Result<()> {
    use std::io::Write as _;
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let _ = writeln!(file, "$ {}", argv.join(" "));
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .with_context(|| format!("running {}", argv.join(" ")))?;
    file.write_all(&out.stdout)
        .and_then(|()| file.write_all(&out.stderr))
        .with_context(|| format!("writing {}", log.display()))?;
    for (name, version) in set_up_packages(&String::from_utf8_lossy(&out.stdout)) {
        eprintln!("rig:   installed {name} {version}");
    }
    if !out.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        bail!(
            "`{}` failed ({}); its last lines:\n{tail}\nthe whole output is in {}",
            argv.join(" "),
            out.status,
            log.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_output_gives_one_line_per_package_set_up() {
        let out = "Reading package lists...\nUnpacking qemu-utils (1:7.2+dfsg-7+deb12u16) ...\n\
            Setting up qemu-utils:amd64 (1:7.2+dfsg-7+deb12u16) ...\nSetting up ipxe-qemu (1.0.0+git-20190125.36a4c85-5.1) ...\n\
            Processing triggers for man-db (2.11.2-2) ...\n";
        assert_eq!(
            set_up_packages(out),
            [
                ("qemu-utils".to_string(), "1:7.2+dfsg-7+deb12u16".to_string()),
                ("ipxe-qemu".to_string(), "1.0.0+git-20190125.36a4c85-5.1".to_string())
            ]
        );
    }

    #[test]
    fn qemu_utils_is_pinned_to_qemu_system_version() {
        let cmd = apt_command(&["qemu-system-x86", "qemu-utils"], Some("1:7.2+dfsg-7"));
        assert_eq!(
            cmd.join(" "),
            "apt-get install -y --no-install-recommends --allow-downgrades qemu-system-x86 qemu-utils=1:7.2+dfsg-7"
        );
        // Even when only qemu-system-x86 is missing, qemu-utils comes along at the same version.
        let cmd = apt_command(&["qemu-system-x86"], Some("1:7.2"));
        assert!(cmd.ends_with(&["qemu-system-x86".to_string(), "qemu-utils=1:7.2".to_string()]), "{cmd:?}");
    }

    #[test]
    fn other_packages_install_plainly() {
        assert_eq!(
            apt_command(&["qemu-utils"], None).join(" "),
            "apt-get install -y --no-install-recommends qemu-utils"
        );
    }

    #[test]
    fn missing_is_deduplicated_and_sorted() {
        let needs = [
            Need { program: "b", package: "pkg-b" },
            Need { program: "a", package: "pkg-a" },
            Need { program: "a2", package: "pkg-a" },
            Need { program: "here", package: "pkg-here" },
        ];
        assert_eq!(missing_packages(&needs, |p| p == "here"), ["pkg-a", "pkg-b"]);
    }

    #[test]
    fn candidate_parsing() {
        let out = "qemu-system-x86:\n  Installed: (none)\n  Candidate: 1:7.2+dfsg-7+deb12u18+b3\n  Version table:\n";
        assert_eq!(parse_candidate(out).as_deref(), Some("1:7.2+dfsg-7+deb12u18+b3"));
        assert_eq!(parse_candidate("x:\n  Candidate: (none)\n"), None);
        assert_eq!(parse_candidate(""), None);
    }
}
