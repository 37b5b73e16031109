//! `cargo xtask rig --replay RUN_DIR`: the command line a run recorded in its `report.json`,
//! read back with the run's seed made explicit, so the same cases, CPU models, images,
//! iterations or budget run again with the same random choices.

use std::path::{Path, PathBuf};

use rig::results::RunReport;

/// A recorded run to run again.
#[derive(Debug)]
pub struct Replay {
    /// `cargo xtask rig ...` as recorded, with `--seed` and the flags given beside `--replay`.
    pub command: Vec<String>,
    /// The report it was read from.
    pub file: PathBuf,
    /// That report.
    pub report: RunReport,
}

/// Reads `run_dir/report.json` and rebuilds its command line. `how` holds the flags given
/// beside `--replay` that say where and how the run goes, not what it runs (`--runs-dir`,
/// `--jobs`, `--json`...), each with its value (`None` for a switch): they replace the
/// recorded ones. A missing directory or report, a report that does not read, or one that
/// records no `cargo xtask rig` command is an error naming the file.
pub fn read(run_dir: &Path, how: &[(&str, Option<String>)]) -> Result<Replay, String> {
    match std::fs::metadata(run_dir) {
        Err(e) => return Err(format!("--replay {}: {e}", run_dir.display())),
        Ok(m) if !m.is_dir() => {
            return Err(format!(
                "--replay {}: is {}, not a run directory",
                run_dir.display(),
                rig::file_kind::describe(&m)
            ));
        }
        Ok(_) => {}
    }
    let file = run_dir.join("report.json");
    let bytes =
        std::fs::read(&file).map_err(|e| format!("--replay: {}: {e} (not a run directory?)", file.display()))?;
    let report: RunReport = serde_json::from_slice(&bytes)
        .map_err(|e| format!("--replay: {}: not a run report that reads: {e}", file.display()))?;
    let recorded = &report.provenance.command;
    // `cargo xtask rig ...`: the arguments after `rig`.
    let Some(at) = recorded.iter().take(3).position(|a| a == "rig") else {
        return Err(if recorded.is_empty() {
            format!(
                "--replay: {} records no command line (written before runs recorded theirs): run it again by hand \
                 with --seed {}",
                file.display(),
                report.seed
            )
        } else {
            format!(
                "--replay: {} was not run by `cargo xtask rig` but by `{}`: only rig runs replay",
                file.display(),
                recorded.join(" ")
            )
        });
    };
    let seed = report.seed.to_string();
    let mut args = anchored(&recorded[at + 1..], Path::new(&report.provenance.cwd));
    for (flag, value) in std::iter::once(&("--seed", Some(seed))).chain(how) {
        args = without(&args, flag, value.is_some());
        args.push(flag.to_string());
        args.extend(value.clone());
    }
    let command = ["cargo", "xtask", "rig"].into_iter().map(String::from).chain(args).collect();
    Ok(Replay { command, file, report })
}

/// `command` as a user would type it: each word shell-quoted where it needs to be.
pub fn shown(command: &[String]) -> String {
    match command.split_first() {
        Some((program, args)) => rig::machine::cmdline::shell_line(program, args),
        None => String::new(),
    }
}

/// `args` with each relative `--case` path that exists under `cwd` (where the run started)
/// made absolute, so the replay finds the same file from anywhere. Case names and paths that
/// are not there stay as they were.
fn anchored(args: &[String], cwd: &Path) -> Vec<String> {
    let anchor = |v: &str| {
        let (p, looks_like_a_path) = (Path::new(v), v.contains('/') || v.ends_with(".yaml") || v.ends_with(".yml"));
        match cwd.join(p) {
            there if looks_like_a_path && cwd.is_absolute() && p.is_relative() && there.is_file() => {
                there.display().to_string()
            }
            _ => v.to_string(),
        }
    };
    let mut out = Vec::new();
    let mut after_case = false;
    for a in args {
        if after_case {
            out.push(anchor(a));
        } else if let Some(v) = a.strip_prefix("--case=") {
            out.push(format!("--case={}", anchor(v)));
        } else {
            out.push(a.clone());
        }
        after_case = a == "--case";
    }
    out
}

/// `args` without `flag` (and its value, when it takes one: `--flag V` or `--flag=V`).
fn without(args: &[String], flag: &str, takes_value: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            if takes_value {
                it.next();
            }
        } else if !(takes_value && a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('='))) {
            out.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_command_is_shown_quoted_where_it_must_be() {
        assert_eq!(
            shown(&strings(&["cargo", "--case", "/a b/c.yaml", "--max-time=45m"])),
            "cargo --case '/a b/c.yaml' --max-time=45m"
        );
    }

    #[test]
    fn a_flag_goes_with_its_value_in_either_spelling() {
        let args = strings(&["--seed", "4", "--cpu=epyc", "--seed=5", "--seeds", "--json"]);
        assert_eq!(without(&args, "--seed", true), strings(&["--cpu=epyc", "--seeds", "--json"]));
        assert_eq!(without(&args, "--json", false), strings(&["--seed", "4", "--cpu=epyc", "--seed=5", "--seeds"]));
    }

    #[test]
    fn relative_case_paths_lead_where_the_run_started() {
        let d = dir_with("cwd", None);
        std::fs::create_dir_all(d.join("cases")).unwrap();
        std::fs::write(d.join("cases/mine.yaml"), "").unwrap();
        let args = strings(&[
            "--case",
            "cases/mine.yaml",
            "--case=cases/mine.yaml",
            "--case",
            "boot-smoke",
            "--case",
            "gone/x.yaml",
        ]);
        let mine = d.join("cases/mine.yaml").display().to_string();
        assert_eq!(
            anchored(&args, &d),
            strings(&["--case", &mine, &format!("--case={mine}"), "--case", "boot-smoke", "--case", "gone/x.yaml"])
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    fn dir_with(test: &str, report: Option<&str>) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rig-replay-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        if let Some(text) = report {
            std::fs::write(d.join("report.json"), text).unwrap();
        }
        d
    }

    fn report(command: &[&str]) -> String {
        serde_json::json!({"schema": 1, "accel": "tcg", "seed": 77, "run_dir": "x", "shard": null,
                           "stopped_early": null, "runs": [], "comparisons": [],
                           "provenance": {"command": command}})
        .to_string()
    }

    #[test]
    fn the_recorded_command_comes_back_with_its_seed_and_the_new_where() {
        let d = dir_with("ok", Some(&report(&["cargo", "xtask", "rig", "--case", "c", "--seed", "3", "--jobs=2"])));
        let r = read(&d, &[("--jobs", Some("1".into())), ("--json", None)]).unwrap();
        assert_eq!(
            r.command,
            strings(&["cargo", "xtask", "rig", "--case", "c", "--seed", "77", "--jobs", "1", "--json"])
        );
        assert_eq!(r.file, d.join("report.json"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn what_cannot_be_replayed_is_said_naming_the_file() {
        let gone = std::env::temp_dir().join("rig-replay-no-such-dir");
        assert!(read(&gone, &[]).unwrap_err().contains("rig-replay-no-such-dir: No such file"));
        let d = dir_with("empty", None);
        let e = read(&d, &[]).unwrap_err();
        assert!(e.contains(&d.join("report.json").display().to_string()) && e.contains("No such file"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
        let d = dir_with("garbled", Some("{\"schema\": 1, \"acc"));
        let e = read(&d, &[]).unwrap_err();
        assert!(e.contains("report.json: not a run report that reads: EOF"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
        let d = dir_with("nocommand", Some(&report(&[])));
        let e = read(&d, &[]).unwrap_err();
        assert!(e.contains("records no command line") && e.contains("--seed 77"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
        let d = dir_with("other", Some(&report(&["cargo", "xtask", "reproduce", "--panic", "p.txt"])));
        let e = read(&d, &[]).unwrap_err();
        assert!(e.contains("by `cargo xtask reproduce --panic p.txt`"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
