//! `cargo xtask rig --replay` end to end on a real guest: one iteration of a small snapshot
//! case with `--json`, then its replay: the same seed, case, CPU model, image and kernel, the
//! same iteration seeds. The first run's state disk is deleted when it ends; the replay's
//! `--keep-state` keeps its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rig(args: &[&std::ffi::OsStr]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("rig").args(args).output().expect("starting the rig");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

/// The state disks under `dir`, at any depth.
fn state_disks(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            found.extend(state_disks(&e.path()));
        } else if e.file_name() == "state.qcow2" {
            found.push(e.path());
        }
    }
    found
}

fn report(run_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("report.json")).unwrap()).unwrap()
}

/// What must be the same in a run and its replay: each case × CPU × image, its planned
/// iterations and its iterations' seeds.
fn units(r: &serde_json::Value) -> Vec<String> {
    let runs = r["runs"].as_array().unwrap();
    runs.iter()
        .map(|u| {
            let seeds: Vec<String> =
                u["iterations"].as_array().unwrap().iter().map(|i| i["seed"].to_string()).collect();
            format!("{} {} {} {} seeds {}", u["case"], u["cpu"], u["image"], u["iterations_planned"], seeds.join(","))
        })
        .collect()
}

#[test]
fn a_run_replays_with_its_seed_and_builds_and_keeps_state_disks_only_when_asked() {
    let dir = std::env::temp_dir().join(format!("rig-replay-guest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case = dir.join("snap.yaml");
    let yaml = "name: replay-snap\ndescription: one iteration from a snapshot\nguest: { image: linux }\nsnapshot: true\n\
                iterations: 1\nsteps:\n  - ssh: \"true\"\n";
    std::fs::write(&case, yaml).unwrap();
    let runs = dir.join("runs");
    let (out, first) = rig(&[
        "--case".as_ref(),
        case.as_os_str(),
        "--cpu".as_ref(),
        "epyc".as_ref(),
        "--json".as_ref(),
        "--runs-dir".as_ref(),
        runs.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!((first["exit_code"].as_i64(), first["runs"][0]["verdict"].as_str()), (Some(0), Some("pass")), "{first}");
    let run_dir = PathBuf::from(first["run_dir"].as_str().unwrap());
    assert_eq!(state_disks(&run_dir), Vec::<PathBuf>::new(), "the state disk outlived the run");
    let recorded = report(&run_dir);

    let (out, again) = rig(&["--replay".as_ref(), run_dir.as_os_str(), "--keep-state".as_ref(), "--json".as_ref()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("replaying {}", run_dir.join("report.json").display())), "{stderr}");
    assert!(!stderr.contains("not the same build"), "{stderr}");
    let replay_dir = PathBuf::from(again["run_dir"].as_str().unwrap());
    assert_ne!(replay_dir, run_dir);
    assert_eq!(replay_dir.parent(), Some(runs.as_path()), "the replay goes where the recorded run's runs went");
    assert_eq!(again["seed"], recorded["seed"]);
    let replayed = report(&replay_dir);
    assert_eq!(units(&replayed), units(&recorded));
    let releases = &recorded["provenance"]["kernel_releases"];
    assert!(releases["linux"].as_str().is_some_and(|r| !r.is_empty()), "{releases}");
    assert_eq!(&replayed["provenance"]["kernel_releases"], releases);
    let command: Vec<&str> =
        replayed["provenance"]["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let seed = recorded["seed"].to_string();
    assert!(command.windows(2).any(|w| w == ["--seed", seed.as_str()]), "the replay records its seed: {command:?}");
    assert_eq!(state_disks(&replay_dir).len(), 1, "--keep-state keeps the state disk");
    let _ = std::fs::remove_dir_all(&dir);
}
