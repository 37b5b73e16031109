//! The library's layers, as `rig/src/lib.rs` lists them, hold in its sources: no module
//! imports from a layer above its own, no two modules of a layer import each other, nothing
//! outside `guest_os` (above it or below it, nor `xtask`) names an OS's module or an OS's name
//! or console text (the registry's own list of OSes and their dialects' markers), but for
//! tests and the one xtask file listed with its reason, and `xtask` uses only the library's
//! public layers.

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

/// The module path of a source file under `src/` (`engine/watch.rs` → `engine::watch`,
/// `engine/mod.rs` → `engine`, `lib.rs` → the crate root).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib" || l == "main") {
        parts.pop();
    }
    parts
}

/// The code of a source text: without comment lines and without its `#[cfg(test)]` tail.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first path segment of each item of a `{...}` group (nested groups are one item each),
/// and the first segment after a plain path.
fn heads(rest: &str) -> Vec<String> {
    if !rest.starts_with('{') {
        let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        return vec![head];
    }
    group_items(rest).iter().map(|i| i.split("::").next().unwrap_or("").trim().to_string()).collect()
}

/// The top-level modules a source text's code refers to, as the file at `module` (its module
/// path) names them: `crate::m`, `crate::{m, n::{...}}`, and `super::` paths that climb to
/// the crate root (`super::super::m` in `engine/watch.rs`); a comment's links are not imports.
/// Each comes with the text that refers to it.
fn references(text: &str, module: &[String]) -> Vec<(String, String)> {
    let code = code_of(text);
    let mut out = Vec::new();
    let mut add = |rest: &str| {
        let shown: String = rest.chars().take(60).collect();
        for n in heads(rest).into_iter().filter(|n| !n.is_empty()) {
            out.push((n, shown.clone()));
        }
    };
    for (i, _) in code.match_indices("crate::") {
        if !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            add(&code[i + "crate::".len()..]);
        }
    }
    for (i, _) in code.match_indices("super::") {
        if code[..i].ends_with("super::") || code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // counted from the first `super::` of the path
        }
        let mut rest = &code[i..];
        let mut up = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            rest = r;
            up += 1;
        }
        if up == module.len() {
            add(rest);
        }
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
        for (m, shown) in references(&text, &module_path(rel)) {
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

/// What the guest-OS guard looks for: every registered OS's module (`guest_os::linux`, which
/// holds its images too), and in string literals every OS's name and image recipes (in any
/// case: `Linux` too) and console markers (as its crash dialect lists them).
struct OsGuard {
    modules: Vec<String>,
    /// OS and image names, lower-case: matched in any case.
    names: Vec<String>,
    /// Console markers: matched as written (`BUG:` is not `debug:`).
    words: Vec<String>,
    /// The workspace's test binaries (`crash_illumos`): a literal naming one names a test,
    /// not an OS.
    test_binaries: Vec<String>,
}

impl OsGuard {
    fn from_registry() -> OsGuard {
        let (mut modules, mut names, mut words) = (Vec::new(), Vec::new(), Vec::new());
        for os in rig::guest_os::registry() {
            modules.push(format!("guest_os::{}", os.name()));
            names.push(os.name().to_lowercase());
            names.extend(os.image_recipes().iter().map(|(r, _)| r.to_lowercase()));
            let d = os.dialect();
            words.extend(d.markers().iter().map(|(m, _)| m.to_string()));
            words.extend(d.end_of_panic().map(String::from));
        }
        OsGuard { modules, names, words, test_binaries: test_binaries() }
    }

    /// Where the code of `text` (the file `rel`, at module path `module`, of crate `krate`:
    /// `crate` in the library, `rig` in xtask) names an OS's module or an OS's console text.
    fn violations(&self, rel: &Path, text: &str, module: &[String], krate: &str) -> Vec<String> {
        let code = code_of(text);
        let mut wrong = Vec::new();
        let mut paths: Vec<String> = Vec::new();
        for (i, _) in code.match_indices(&format!("{krate}::")) {
            paths.push(code[i + krate.len() + 2..].chars().take(80).collect());
        }
        if krate == "crate" {
            paths.extend(references(text, module).into_iter().map(|(_, shown)| shown));
        }
        for p in &paths {
            let p = p.split_whitespace().collect::<Vec<_>>().join(" ").replace(":: ", "::").replace("{ ", "{");
            if let Some(m) = self.modules.iter().find(|m| reaches(&p, m)) {
                wrong.push(format!("{} uses the OS module {m}: {p}", rel.display()));
            }
        }
        for lit in literals(&code).into_iter().filter(|l| !self.test_binaries.contains(l)) {
            let lower = lit.to_lowercase();
            let name = self.names.iter().find(|n| holds_word(&lower, n));
            if let Some(w) = name.or_else(|| self.words.iter().find(|w| holds_word(&lit, w))) {
                wrong.push(format!("{} holds OS text '{w}': \"{lit}\"", rel.display()));
            }
        }
        wrong
    }
}

/// Whether `text` holds `word` where a word of its own would stand: an end of `word` that is
/// a letter or digit must not touch another one (`vpanic` is not in `pvpanic`).
fn holds_word(text: &str, word: &str) -> bool {
    let inner = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (word.chars().next(), word.chars().last());
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().last();
        let after = text[i + word.len()..].chars().next();
        let glued = (inner(first) && inner(before)) || (inner(last) && inner(after));
        !glued
    })
}

/// The names of the workspace's integration-test binaries (`rig/tests/*.rs`, `xtask/tests/*.rs`).
fn test_binaries() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"), xtask_src().join("../tests")] {
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rs") {
                out.extend(p.file_stem().map(|s| s.to_string_lossy().into_owned()));
            }
        }
    }
    assert!(out.iter().any(|t| t == "layers"), "the test binaries are where they were: {out:?}");
    out
}

/// Whether a path (`guest_os::{illumos::X, Target}`, spaces squeezed) reaches module `m`
/// (`guest_os::illumos`), through groups too.
fn reaches(path: &str, m: &str) -> bool {
    let (first, rest) = m.split_once("::").unwrap_or((m, ""));
    if rest.is_empty() {
        return heads(path).iter().any(|h| h == first);
    }
    let Some(after) = path.strip_prefix(first).and_then(|p| p.strip_prefix("::")) else { return false };
    match after.strip_prefix('{') {
        // Each item of the group, as a path of its own.
        Some(_) => group_items(after).iter().any(|i| reaches(i, rest)),
        None => reaches(after, rest),
    }
}

/// The items of a `{...}` group at its top level.
fn group_items(group: &str) -> Vec<String> {
    let (mut depth, mut item, mut out) = (0usize, String::new(), Vec::new());
    for c in group.strip_prefix('{').unwrap_or(group).chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    out.push(item);
    out.into_iter().map(|i| i.trim().to_string()).collect()
}

/// The string literals of some code (plain `"..."` ones; escapes kept as written).
fn literals(code: &str) -> Vec<String> {
    let (mut out, mut cur, mut inside, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in code.chars() {
        match (inside, escaped, c) {
            (true, true, _) => {
                cur.push(c);
                escaped = false;
            }
            (true, false, '\\') => {
                cur.push(c);
                escaped = true;
            }
            (true, false, '"') => {
                out.push(std::mem::take(&mut cur));
                inside = false;
            }
            (true, false, _) => cur.push(c),
            (false, _, '"') => inside = true,
            _ => {}
        }
    }
    out
}

/// Test modules kept in files of their own (`tests.rs`, `*_tests.rs`): tests may use an OS's
/// text and profiles as data.
fn is_test_file(rel: &Path) -> bool {
    rel.file_stem().is_some_and(|s| s == "tests" || s.to_string_lossy().ends_with("_tests"))
}

/// Whether the OS guard reads the library file `rel` (under `src/`): every module's code but
/// `guest_os`'s (each OS with its images) and the test files.
fn guarded(rel: &Path, layers: &BTreeMap<String, u32>) -> bool {
    let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
    layers.get(&top).is_some_and(|&l| l != layers["guest_os"]) && !is_test_file(rel)
}

#[test]
fn nothing_outside_the_guest_os_layer_names_an_os() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let guard = OsGuard::from_registry();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src()).unwrap().to_path_buf();
        if !guarded(&rel, &layers) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        wrong.extend(guard.violations(&rel, &text, &module_path(&rel), "crate"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// xtask's files that may name OSes, and why: the crash-dense benchmark reads syzkaller's
/// corpus, which is Linux's alone (its path and the dialect that reads it name Linux).
const XTASK_OS_FILES: &[&str] = &["bench/syzkaller.rs"];

fn xtask_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask/src")
}

#[test]
fn xtask_uses_the_public_layers_and_names_no_os() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let layers = layers(&lib);
    let guard = OsGuard::from_registry();
    let mut files = Vec::new();
    rust_files(&xtask_src(), &mut files);
    assert!(files.len() > 10, "xtask's sources are where they were: {}", xtask_src().display());
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(xtask_src()).unwrap().to_path_buf();
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in code_of(&text).match_indices("rig::") {
            let code = code_of(&text);
            for m in heads(&code[i + "rig::".len()..]).into_iter().filter(|m| !m.is_empty()) {
                if !layers.contains_key(&m) {
                    wrong.push(format!("{} uses rig::{m}, which is no layer of the library", rel.display()));
                }
            }
        }
        if !XTASK_OS_FILES.iter().any(|x| rel == Path::new(x)) {
            wrong.extend(guard.violations(&rel, &text, &[], "rig"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn references_are_read_from_paths_groups_and_supers() {
    let engine_watch = ["engine".to_string(), "watch".to_string()];
    let r = references(
        "use crate::{engine::x, report::{a, b}, dump};\n/// [`crate::case`]\nlet a = crate::guest_os::load(b);\n\
         use super::super::{coal::x, host};\nuse super::shell;\nuse super::super::super::nope;",
        &engine_watch,
    );
    let names: Vec<&str> = r.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["engine", "report", "dump", "guest_os", "coal", "host"]);
    assert_eq!(module_path(Path::new("engine/mod.rs")), ["engine"]);
    assert!(module_path(Path::new("lib.rs")).is_empty());
}

#[test]
fn the_os_guard_catches_a_planted_violation() {
    let guard = OsGuard::from_registry();
    let at = |text: &str| {
        guard.violations(Path::new("engine/planted.rs"), text, &["engine".into(), "planted".into()], "crate")
    };
    let clean = "use crate::guest_os::{Target, load};\nfn f() -> &'static str { \"a panic\" }\n";
    assert!(at(clean).is_empty(), "{:?}", at(clean));
    for planted in [
        "use crate::guest_os::linux::LINUX;",
        "use crate::guest_os::linux as os;",
        "use crate::guest_os::{illumos::ILLUMOS, Target};",
        "use super::super::guest_os::illumos::coal::CoalImage;",
        "use crate::guest_os::linux::image::ensure_image;",
        "fn f(l: &str) -> bool { l.contains(\"Kernel panic - not syncing\") }",
        "fn f(l: &str) -> bool { l.contains(\"panic[cpu\") }",
        "const IMAGE: &str = \"linux\";",
        "fn f() { println!(\"the rig builds the Linux ones\"); }",
        "#[arg(long, value_name = \"IMG1,IMG2,...|coal\")]",
    ] {
        assert!(!at(planted).is_empty(), "not caught: {planted}");
    }
    // xtask's paths are `rig::` ones.
    assert!(!guard.violations(Path::new("bench/boot.rs"), "use rig::guest_os::linux::LINUX;", &[], "rig").is_empty());
    assert!(
        !guard
            .violations(
                Path::new("rig_cmd.rs"),
                "let c = rig::guest_os::illumos::coal::image::prepared(b);",
                &[],
                "rig"
            )
            .is_empty()
    );
    // The pure layers below the guest OS are read too; the guest OS and its images not.
    let layers = layers(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    for (rel, read) in [
        ("crash/planted.rs", true),
        ("engine/planted.rs", true),
        ("console/planted.rs", true),
        ("console/stall.rs", true),
        ("guest_os/linux/planted.rs", false),
        ("guest_os/linux/image/planted.rs", false),
        ("guest_os/illumos/coal/planted.rs", false),
        ("crash/planted_tests.rs", false),
    ] {
        assert_eq!(guarded(Path::new(rel), &layers), read, "{rel}");
    }
    // An OS's word inside another word is not the OS's.
    assert!(at("const DEV: &str = \"pvpanic\";").is_empty());
    assert!(!at("const F: &str = \"vpanic+0x1\";").is_empty());
    // A literal naming a test binary names a test, not an OS; any other is still caught.
    let runner = |text: &str| guard.violations(Path::new("test_cmd.rs"), text, &[], "rig");
    assert!(runner("const QUICK: &[&str] = &[\"crash_illumos\"];").is_empty());
    assert!(!runner("const QUICK: &[&str] = &[\"crash_illumos_more\"];").is_empty());
    // Tests and comments may name an OS.
    assert!(at("// Kernel panic - not syncing\n#[cfg(test)]\nmod t { const L: &str = \"linux\"; }").is_empty());
    // A guest OS registered at run time is guarded too, by its own name and markers: the
    // guard is built from the registry, not from a list here.
    assert!(guard.names.iter().any(|w| w == "illumos") && guard.words.iter().any(|w| w == "Call Trace:"));
    // A marker is matched as written, a name in any case.
    assert!(at("const K: &str = \"modules.debug: no switch\";").is_empty());
}
