//! The library's layers, as `rig/src/lib.rs` lists them, hold in its sources: no module
//! imports from a layer above its own, no two modules of a layer import each other, and
//! nothing above `guest_os` reaches an OS-specific module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module → layer, from the table in lib.rs's documentation (`//! | N | `a` `b` | ... |`).
fn layers(lib: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! |")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Ok(n) = cells[0].parse::<u32>() else { continue };
        for m in cells[1].split('`').map(str::trim).filter(|m| !m.is_empty()) {
            assert!(out.insert(m.to_string(), n).is_none(), "{m} is in two layers");
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a source text's code refers to (`crate::m`, `crate::{m, ...}`; a
/// comment's links are not imports), with the text that refers to them.
fn references(text: &str) -> Vec<(String, String)> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let text = code.as_str();
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group.split(',').filter_map(|p| p.trim().split("::").next()).collect()
            }
            None => rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).take(1).collect(),
        };
        let shown: String = rest.chars().take(60).collect();
        out.extend(names.into_iter().filter(|n| !n.is_empty()).map(|n| (n.to_string(), shown.clone())));
    }
    out
}

/// Module → (module it imports → where).
fn imports(layers: &BTreeMap<String, u32>) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (m, shown) in references(&text) {
            if m != top && layers.contains_key(&m) {
                out.entry(top.clone())
                    .or_default()
                    .entry(m)
                    .or_insert_with(|| format!("{}: crate::{shown}", rel.display()));
            }
        }
    }
    out
}

#[test]
fn every_module_is_in_one_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let declared: BTreeSet<String> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';').to_string()).collect();
    let listed: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(declared, listed, "lib.rs's modules and its layer table differ");
}

#[test]
fn no_module_imports_from_above_or_both_ways() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let imports = imports(&layers);
    let mut wrong = Vec::new();
    for (from, tos) in &imports {
        for (to, at) in tos {
            let (lf, lt) = (layers[from], layers[to]);
            if lt < lf {
                wrong.push(format!("{from} (layer {lf}) imports {to} (layer {lt}) above it: {at}"));
            } else if lt == lf && from < to && imports.get(to).is_some_and(|t| t.contains_key(from)) {
                wrong.push(format!("{from} and {to} import each other: {at}; {}", imports[to][from]));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn nothing_below_the_guest_os_layer_reaches_an_os() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let target = layers["guest_os"];
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap().to_path_buf();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if layers.get(&top).is_none_or(|&l| l >= target) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        // Tests may use an OS's profile as data; the code may not.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for os in ["crate::coal", "crate::guest_os::linux", "crate::guest_os::illumos"] {
            if code.contains(os) {
                wrong.push(format!("{} uses {os}", rel.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn references_are_read_from_paths_and_groups() {
    let r = references("use crate::{engine::x, report};\n/// [`crate::case`]\nlet a = crate::guest_os::load(b);");
    let names: Vec<&str> = r.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["engine", "report", "guest_os"]);
}
