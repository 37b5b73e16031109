//! Where things live: the workspace, its build directory and its runs.

use std::path::PathBuf;

/// The workspace root (the parent of `xtask/`).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Build products and caches: `$RIG_BUILD_DIR`, else `<workspace>/build`.
pub fn build_dir() -> PathBuf {
    std::env::var_os("RIG_BUILD_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("build"))
}

/// Where run directories go by default.
pub fn runs_dir() -> PathBuf {
    build_dir().join("runs")
}

/// This command line as a user types it again: `cargo xtask` and the arguments after the binary
/// (an argument that is not UTF-8, a case's file name, with its bad bytes replaced).
pub fn command_line() -> Vec<String> {
    let args = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned());
    ["cargo".to_string(), "xtask".to_string()].into_iter().chain(args).collect()
}
