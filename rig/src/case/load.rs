//! Finding, reading and validating test cases. Errors name the file, line and column and say
//! what was expected; nothing here starts a VM.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::model::{Case, ExpectOutcome, MAX_SECS, UnloadBusy};
use super::step::{Step, StepKind};

/// A test case that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the file could not be read at all).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for CaseError {}

/// A loaded, validated case and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    /// The case.
    pub case: Case,
    /// Its file.
    pub file: PathBuf,
}

/// The largest case file, in bytes: cases are a page or two of YAML.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Resolves `--case` (a name in `dir` or a path, which need not be UTF-8) and loads it.
pub fn find(dir: &Path, name_or_path: impl AsRef<OsStr>) -> Result<LoadedCase, CaseError> {
    let name_or_path = name_or_path.as_ref();
    let bytes = name_or_path.as_bytes();
    let file = if bytes.ends_with(b".yaml") || bytes.ends_with(b".yml") || bytes.contains(&b'/') {
        PathBuf::from(name_or_path)
    } else {
        let mut name = name_or_path.to_os_string();
        name.push(".yaml");
        dir.join(name)
    };
    if !file.exists() {
        let known: Vec<String> = list(dir).into_iter().filter_map(|c| c.ok()).map(|c| c.case.name).collect();
        return Err(CaseError {
            file,
            line: 0,
            column: 0,
            message: format!("no such test case; known cases in {}: {}", dir.display(), known.join(", ")),
        });
    }
    load(&file)
}

/// Every `*.yaml` case in `dir`, sorted by file name, each loaded or with its error.
pub fn list(dir: &Path) -> Vec<Result<LoadedCase, CaseError>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().map(|f| load(f)).collect()
}

/// Reads and validates one case file: a regular file (a FIFO would be waited on forever) of
/// at most [`MAX_FILE_BYTES`].
pub fn load(file: &Path) -> Result<LoadedCase, CaseError> {
    let unreadable = |message: String| CaseError { file: file.to_path_buf(), line: 0, column: 0, message };
    if let Some(why) = crate::file_kind::not_regular(file) {
        return Err(unreadable(format!("{why}; a case is a YAML file")));
    }
    let text = read_capped(file).map_err(unreadable)?;
    let case = parse(&text).map_err(|(line, column, message)| CaseError {
        file: file.to_path_buf(),
        line,
        column,
        message,
    })?;
    Ok(LoadedCase { case, file: file.to_path_buf() })
}

/// The file's text, refused when larger than [`MAX_FILE_BYTES`] (read no further than that).
fn read_capped(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(file).map_err(|e| format!("cannot read: {e}"))?;
    let size = f.metadata().map_err(|e| format!("cannot read: {e}"))?.len();
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "is {} bytes; a case file may be at most 1 MiB ({MAX_FILE_BYTES} bytes)",
            size.max(bytes.len() as u64)
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("cannot read: not UTF-8 text ({e})"))
}

/// Parses and validates case text. Errors are (line, column, message).
pub fn parse(text: &str) -> Result<Case, (usize, usize, String)> {
    let case: Case = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        // serde_norway appends " at line N column M"; the location is reported separately.
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        item_location(text, line, column, &msg).unwrap_or((line, column, msg))
    })?;
    validate(&case).map_err(|(needle, msg)| {
        let (line, column) = locate(text, &needle);
        (line, column, msg)
    })?;
    Ok(case)
}

/// Checks that need the whole case. Errors are (text to locate, message).
fn validate(c: &Case) -> Result<(), (String, String)> {
    let err = |needle: &str, msg: String| Err((needle.to_string(), msg));
    if c.name.trim().is_empty() {
        return err("name:", "name: must not be empty".into());
    }
    if c.iterations == 0 {
        return err("iterations:", "iterations: must be at least 1".into());
    }
    super::limits::check(c)?;
    if c.steps.is_empty() {
        return err("steps:", "steps: a case needs at least one step".into());
    }
    let d = &c.deadlines;
    for (key, v) in [("boot_secs", d.boot_secs), ("iteration_secs", d.iteration_secs), ("run_secs", d.run_secs)] {
        if v == 0 {
            return err(key, format!("deadlines.{key}: must be at least 1"));
        }
        if v > MAX_SECS {
            return err(key, format!("deadlines.{key}: {v} is more than 30 days ({MAX_SECS} s)"));
        }
    }
    if c.guest.nested && c.guest.hide_virt {
        return err("hide_virt:", "guest: nested and hide_virt contradict each other; choose one".into());
    }
    if c.guest.vcpus == 0 {
        return err("vcpus:", "guest.vcpus: must be at least 1".into());
    }
    if c.guest.memory_mib < 128 {
        return err(
            "memory_mib:",
            format!("guest.memory_mib: {} is too small, the guest needs at least 128", c.guest.memory_mib),
        );
    }
    let Some(profile) = crate::guest_os::profile_for(&c.guest.image) else {
        return err("image:", format!("guest.image: {}", crate::guest_os::unknown_image(&c.guest.image, None)));
    };
    for m in &c.modules.free {
        if profile.module(m).is_none() {
            return err("free:", format!("modules.free: the {} guest has no module '{m}' to free", profile.name));
        }
    }
    if c.modules.debug && profile.module_debug.is_empty() {
        return err("debug:", format!("modules.debug: the {} guest has no module debugging switch", profile.name));
    }
    let e = &c.expect;
    if e.outcome == ExpectOutcome::NoPanic && !e.panic.is_empty() {
        return err(
            "expect:",
            "expect: title, message and function describe an expected panic; add `outcome: panic`".into(),
        );
    }
    if let Some(x) = e.panic.bad_message() {
        return err("message:", format!("expect.message: not a valid regex: {x}"));
    }
    if let Some(h) = &c.hunts {
        if h.is_empty() {
            return err("hunts:", "hunts: name a title, a message regex or a function".into());
        }
        if let Some(x) = h.bad_message() {
            return err("hunts:", format!("hunts.message: not a valid regex: {x}"));
        }
    }
    if c.compare.len() == 1 {
        return err("compare:", "compare: name at least two images (the reference first, then candidates)".into());
    }
    for img in &c.compare {
        if crate::guest_os::profile_for(img).is_none() {
            return err("compare:", format!("compare: {}", crate::guest_os::unknown_image(img, None)));
        }
    }
    if c.unload_busy != UnloadBusy::Fail
        && !all_steps(&c.setup).chain(all_steps(&c.steps)).any(|s| matches!(s.kind, StepKind::ReloadModule(_)))
    {
        return err("unload_busy:", "unload_busy: the case has no reload_module step for it to apply to".into());
    }
    for s in all_steps(&c.setup).chain(all_steps(&c.steps)) {
        if matches!(s.kind, StepKind::HaltZones(_) | StepKind::BootZones) && profile.zones.is_none() {
            let key = s.kind.kind().key();
            return err(&format!("{key}:"), format!("{key}: the {} guest has no zones", profile.name));
        }
        if let StepKind::ReloadModule(m) = &s.kind
            && profile.module(m).is_none()
        {
            let known: Vec<&str> = profile.modules.iter().map(|m| m.name).collect();
            return err(
                &format!("reload_module: {m}"),
                format!(
                    "reload_module: the '{}' profile cannot reload '{m}'; it can reload: {}",
                    profile.name,
                    known.join(", ")
                ),
            );
        }
    }
    Ok(())
}

/// Every step, nested ones included.
pub fn all_steps(steps: &[Step]) -> Box<dyn Iterator<Item = &Step> + '_> {
    Box::new(steps.iter().flat_map(|s| {
        let inner: Box<dyn Iterator<Item = &Step>> = match &s.kind {
            StepKind::Background(b) => all_steps(&b.steps),
            StepKind::Repeat(r) => all_steps(&r.steps),
            StepKind::Race(r) => Box::new(r.branches.iter().flat_map(|b| all_steps(b))),
            StepKind::Ssh { .. }
            | StepKind::Qmp { .. }
            | StepKind::WaitConsole(_)
            | StepKind::WaitBoot
            | StepKind::Reboot(_)
            | StepKind::Sleep(_)
            | StepKind::ReloadModule(_)
            | StepKind::CheckCpu
            | StepKind::HaltZones(_)
            | StepKind::BootZones => Box::new(std::iter::empty()),
        };
        std::iter::once(s).chain(inner)
    }))
}

/// A step-list error says `<path>: item N: ...` at the list's own position; this finds item N
/// of that block sequence and names it `<path>[N-1]`, at the item's line and column.
fn item_location(text: &str, line: usize, column: usize, msg: &str) -> Option<(usize, usize, String)> {
    let (path, rest) = msg.split_once(": item ")?;
    let (n, what) = rest.split_once(": ")?;
    let n: usize = n.parse().ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let dash = column - 1;
    let mut seen = 0;
    for (i, l) in lines.iter().enumerate().skip(line - 1) {
        let indent = l.len() - l.trim_start().len();
        let blank = l.trim().is_empty() || l.trim_start().starts_with('#');
        if !blank && indent < dash {
            break;
        }
        if indent == dash && l[dash..].starts_with('-') {
            seen += 1;
            if seen == n {
                return Some((i + 1, dash + 3, format!("{path}[{}]: {what}", n - 1)));
            }
        }
    }
    None
}

/// 1-based line and column of the first occurrence of `needle` in `text` ((1, 1) if absent).
fn locate(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or((1, 1))
}
