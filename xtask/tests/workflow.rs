//! The example GitHub Actions workflow: valid against GitHub's workflow schema (as
//! `check-jsonschema`, PyPI, vendors it), safe as the house wants it (timeouts, least
//! permissions, actions pinned, cargo never as root), and its merge job merges exactly the
//! shards' reports when artifacts lie as `download-artifact` lays them out.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn workflow_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows/rig.yml")
}

#[test]
fn the_example_workflow_is_valid_for_github() {
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(workflow_path())
        .output()
        .expect(
            "check-jsonschema is missing: `cargo xtask test` installs it (python3 -m pip install check-jsonschema)",
        );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("validation done"), "{said}");
}

/// The workflow as JSON, read by the YAML parser check-jsonschema itself uses (ruamel.yaml).
fn workflow() -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, json\nfrom ruamel.yaml import YAML\nprint(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))",
        ])
        .arg(workflow_path())
        .output()
        .expect("python3 (with ruamel.yaml, which check-jsonschema brings)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn jobs(w: &Value) -> &serde_json::Map<String, Value> {
    w["jobs"].as_object().expect("jobs")
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map_or(&[], Vec::as_slice)
}

#[test]
fn every_job_is_bounded_least_privileged_pinned_and_never_runs_cargo_as_root() {
    let w = workflow();
    assert_eq!(w["permissions"], json!({"contents": "read"}), "the workflow's default permissions");
    for (name, job) in jobs(&w) {
        assert!(job["timeout-minutes"].as_u64().is_some_and(|m| m > 0), "job {name} has no timeout-minutes");
        if let Some(p) = job["permissions"].as_object() {
            for (scope, level) in p {
                assert!(level == "read" || scope == "checks", "job {name} may write {scope}: only checks (JUnit)");
            }
        }
        for step in steps(job) {
            if let Some(uses) = step["uses"].as_str() {
                let sha = uses.split_once('@').map_or("", |(_, r)| r);
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                    "job {name}: {uses} is not pinned to a full commit SHA"
                );
            }
            for line in step["run"].as_str().unwrap_or("").lines() {
                let sudo = line.find("sudo");
                assert!(!sudo.is_some_and(|at| line[at..].contains("cargo")), "job {name} runs cargo as root: {line}");
            }
        }
    }
    // The tag each SHA stands for is kept beside it, for the reader and for updates.
    let text = std::fs::read_to_string(workflow_path()).unwrap();
    for line in text.lines().filter(|l| l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:")) {
        assert!(line.contains(" # v"), "no tag beside the SHA: {line}");
    }
    // The hosted job proves KVM really ran, from the report's accelerator.
    let hosted = &jobs(&w)["hosted"];
    assert!(
        steps(hosted).iter().any(|s| s["run"].as_str().is_some_and(|r| r.contains(r#".accel == "kvm""#))),
        "the hosted job does not check that KVM ran"
    );
}

/// A shard's passing report: `cpu`'s iteration `index` of 4.
fn shard_report(shard: &str, cpu: &str, index: u32) -> Value {
    json!({"schema": 1, "accel": "kvm", "seed": 42, "run_dir": "x", "shard": shard, "stopped_early": null,
        "comparisons": [], "runs": [{
        "case": "c", "file": "c.yaml", "cpu": cpu, "image": "linux", "iterations_planned": 4,
        "assigned": [index], "hunts": null, "compared": false, "stopped": null, "not_run": null,
        "iterations": [{"index": index, "outcome": {"kind": "completed"}, "verdict": "pass", "secs": 1.0,
                        "seed": 1, "evidence": "e", "steps": []}],
        "tally": {"ran": 1, "pass": 1, "fail": 0, "error": 0, "skipped": 0, "panics": 0, "hangs": 0,
                  "panic_rate": 0.0, "titles": []}}]})
}

/// Whether `name` matches a download-artifact `pattern` (minimatch; `*` is all it uses here).
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head) && (0..=name.len() - head.len()).any(|k| matches(tail, &name[head.len() + k..]))
        }
    }
}

/// The report.json of a runs directory holding one run directory (`rig-1/`), as an upload
/// step's `path` puts it in its artifact: upload-artifact drops the matched files' least
/// common ancestor, so `<runs>/*/report.json` lands at the artifact's root and `<runs>` as
/// `rig-1/report.json`. Empty when the upload leaves the report out.
fn uploaded(upload: &Value, report: &Value) -> Vec<(String, Value)> {
    let paths: Vec<&str> = upload["path"].as_str().unwrap().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let Some(path) = paths.into_iter().find(|p| p.ends_with("/*/report.json") || !p.contains('*')) else {
        return Vec::new();
    };
    let inside = if path.contains('*') { "report.json" } else { "rig-1/report.json" };
    vec![(inside.to_string(), report.clone())]
}

/// The `with:` of the first step of `job` that uses `action`.
fn with_of<'a>(job: &'a Value, action: &str) -> &'a Value {
    let step = steps(job).iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)));
    &step.unwrap_or_else(|| panic!("no {action} step"))["with"]
}

#[test]
fn the_merge_job_merges_exactly_the_shards_reports() {
    let w = workflow();
    let shard_job = &jobs(&w)["shard"];
    let matrix = &shard_job["strategy"]["matrix"];
    let shards: Vec<u64> = matrix["shard"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let n = shards.len();
    // Artifact names as the shard job makes them, and its evidence artifact beside them.
    let named = |upload: &Value, vendor: &str, shard: u64| {
        upload["name"]
            .as_str()
            .unwrap()
            .replace("${{ matrix.vendor }}", vendor)
            .replace("${{ matrix.shard }}", &shard.to_string())
    };
    let uploads: Vec<&Value> = steps(shard_job)
        .iter()
        .filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@")))
        .map(|s| &s["with"])
        .collect();
    let (report_upload, evidence_upload) = (uploads[0], uploads[1]);
    // Each artifact: its name and its files (path inside the artifact, report).
    let mut artifacts: Vec<(String, Vec<(String, Value)>)> = Vec::new();
    for include in matrix["include"].as_array().unwrap() {
        let vendor = include["vendor"].as_str().unwrap();
        let cpu = include["cpus"].as_str().unwrap().split(',').next().unwrap();
        for &k in &shards {
            let r = shard_report(&format!("{k}/{n}"), cpu, k as u32);
            artifacts.push((named(report_upload, vendor, k), uploaded(report_upload, &r)));
            // A failing shard's evidence: the same report again.
            artifacts.push((named(evidence_upload, vendor, k), uploaded(evidence_upload, &r)));
        }
    }
    // The hosted job's run: another campaign (its own seed).
    let mut hosted = shard_report("1/1", "epyc", 1);
    hosted["seed"] = json!(7);
    let hosted_name = with_of(&jobs(&w)["hosted"], "actions/upload-artifact@")["name"].as_str().unwrap();
    let hosted_upload = with_of(&jobs(&w)["hosted"], "actions/upload-artifact@");
    artifacts.push((hosted_name.into(), uploaded(hosted_upload, &hosted)));

    // Laid out as download-artifact does with the merge job's inputs.
    let merge_job = &jobs(&w)["merge"];
    let download = with_of(merge_job, "actions/download-artifact@");
    let pattern = download["pattern"].as_str().expect("the download names a pattern");
    let into = download["path"].as_str().unwrap();
    let merge_multiple = download["merge-multiple"].as_bool().unwrap_or(false);
    let root = std::env::temp_dir().join(format!("rig-workflow-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut taken = Vec::new();
    for (name, files) in artifacts.iter().filter(|(name, _)| matches(pattern, name)) {
        taken.push(name.clone());
        let dir = if merge_multiple { root.join(into) } else { root.join(into).join(name) };
        for (path, report) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, report.to_string()).unwrap();
        }
    }
    assert_eq!(taken.len(), 2 * n, "the pattern {pattern} took {taken:?}");

    // The merge step's own command line, run by a shell (which expands its globs).
    let run = steps(merge_job)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("report merge"))
        .expect("a step runs `cargo xtask report merge`");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("cargo() {{ shift; \"$XTASK\" \"$@\"; }}\n{run}"))
        .current_dir(&root)
        .env("XTASK", env!("CARGO_BIN_EXE_xtask"))
        .env("RIG_BUILD_DIR", &root)
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{run}: {said}");
    let merged = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path().join("report.json"))
        .find(|p| p.is_file() && !p.starts_with(root.join(into)))
        .unwrap_or_else(|| panic!("no merged report.json: {said}"));
    let merged: Value = serde_json::from_slice(&std::fs::read(merged).unwrap()).unwrap();
    let page = said.lines().find_map(|l| l.split_once("  page: ")).map(|(_, p)| root.join(p));
    assert!(page.is_some_and(|p| p.is_file()), "the merge names its page: {said}");
    let iterations: usize =
        merged["runs"].as_array().unwrap().iter().map(|r| r["iterations"].as_array().unwrap().len()).sum();
    assert_eq!(iterations, 2 * n, "{merged}");
    let _ = std::fs::remove_dir_all(&root);
}
