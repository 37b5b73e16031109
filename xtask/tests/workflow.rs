//! The example GitHub Actions workflow is valid against GitHub's workflow schema, as
//! `check-jsonschema` (PyPI) vendors it: a typo in it would only show on GitHub otherwise.

use std::process::Command;

#[test]
fn the_example_workflow_is_valid_for_github() {
    let workflow = concat!(env!("CARGO_MANIFEST_DIR"), "/../.github/workflows/rig.yml");
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows", workflow])
        .output()
        .expect(
            "check-jsonschema is missing: `cargo xtask test` installs it (python3 -m pip install check-jsonschema)",
        );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("validation done"), "{said}");
}
