//! `boot/loader.conf` for a coal USB image: the rig's boot settings as a typed value, rendered
//! as key edits and merged into the image's own loader.conf (keys replaced, the rest kept).
//!
//! Every loader variable becomes a kernel boot property (`../shared/docs/smartos-coal.md`).
//! No `smartos="true"`: it selects standalone SmartOS, not a headnode, in smartos-live's
//! `overlay/generic/lib/svc/method/fs-joyent`, and coal's own `boot/loader.conf.tmpl` never
//! sets it.

use std::fmt::Write as _;

/// What kmdb does on this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kmdb {
    /// No kmdb: a panic goes straight to the dump and the reboot.
    Off,
    /// kmdb loaded (`boot_kmdb="YES"`), a panic meant to go straight to the dump: the rig sets
    /// the kernel variable `nopanicdebug` at run time after each boot (`mdb -kw`; no loader key
    /// sets it, illumos-gate `usr/src/uts/common/os/panic.c`) and answers `:c` at the `[N]>`
    /// prompt where that did not work.
    LoadedPanicsDump,
    /// kmdb loaded and a panic stops at the `[N]>` prompt; someone (the rig) must send `:c`.
    LoadedPanicsStop,
}

/// What an NMI (QMP `inject-nmi`) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nmi {
    /// Panic and write a dump: how the rig gets a dump out of a hung guest.
    Panic,
    /// Drop into kmdb (needs kmdb loaded).
    Kmdb,
}

/// The rig's loader settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoaderOptions {
    /// Seconds of the loader's countdown (its default is 10).
    pub autoboot_delay_secs: u32,
    /// The NMI action.
    pub nmi: Nmi,
    /// kmdb.
    pub kmdb: Kmdb,
    /// The platform image stamp to boot (`20181206T011455Z`); `None` keeps the image's choice.
    pub platform: Option<String>,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions { autoboot_delay_secs: 2, nmi: Nmi::Panic, kmdb: Kmdb::LoadedPanicsDump, platform: None }
    }
}

/// One change to loader.conf: set `key` to a value, or (`None`) remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The variable.
    pub key: &'static str,
    /// Its new value (unquoted), or `None` to remove it.
    pub value: Option<String>,
}

fn set(key: &'static str, value: impl Into<String>) -> Edit {
    Edit { key, value: Some(value.into()) }
}

fn unset(key: &'static str) -> Edit {
    Edit { key, value: None }
}

impl LoaderOptions {
    /// The key edits these options stand for, in the order they are appended.
    ///
    /// Consoles: the loader prints on ttyb, ttya and the screen; the OS on ttyb (COM2, QEMU's
    /// second `-serial`), as coal does by default. Both ports run at 115200 8N1.
    ///
    /// The platform: the paths are the layout facts (`/os/<PI>/platform/i86pc/...`);
    /// `platform-version` is what Triton's loader menu reads to pick a platform. Which of the
    /// two a given coal build honours could not be checked without an image, so both are set.
    pub fn edits(&self) -> Vec<Edit> {
        let mut e = vec![
            set("console", "ttyb,ttya,text"),
            set("os_console", "ttyb"),
            set("ttya-mode", "115200,8,n,1,-"),
            set("ttyb-mode", "115200,8,n,1,-"),
            set("autoboot_delay", self.autoboot_delay_secs.to_string()),
            unset("smartos"),
            set(
                "nmi",
                match self.nmi {
                    Nmi::Panic => "panic",
                    Nmi::Kmdb => "kmdb",
                },
            ),
        ];
        // Never break into kmdb at boot (`-d`): the key is `boot_drop_into_kmdb` in current
        // illumos loaders and `boot_debug` in 2016-era ones (`usr/src/boot/forth/loader.4th`),
        // and which loader a coal image carries is not known, so both go. A stale
        // `nopanicdebug` line is removed too: it sets no kernel variable.
        let kmdb = if self.kmdb == Kmdb::Off { "NO" } else { "YES" };
        e.extend([set("boot_kmdb", kmdb), unset("boot_drop_into_kmdb"), unset("boot_debug"), unset("nopanicdebug")]);
        if let Some(pi) = &self.platform {
            e.extend([
                set("platform-version", pi.clone()),
                set("bootfile", format!("/os/{pi}/platform/i86pc/kernel/amd64/unix")),
                set("boot_archive_name", format!("/os/{pi}/platform/i86pc/amd64/boot_archive")),
                set("boot_archive.hash_name", format!("/os/{pi}/platform/i86pc/amd64/boot_archive.hash")),
            ]);
        }
        e
    }
}

/// The variable a loader.conf line assigns, if it is an assignment (not a comment or blank).
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    let k = k.trim_end();
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))).then_some(k)
}

/// Merges `opts` into an existing loader.conf: a key the rig sets replaces the first line that
/// assigns it (later duplicates are dropped, so the rig's value wins), removed keys disappear,
/// keys the file lacked are appended under a comment; everything else is kept as it was.
pub fn merge(existing: &str, opts: &LoaderOptions) -> String {
    let edits = opts.edits();
    let mut done: Vec<&str> = Vec::new();
    let mut out = String::new();
    for line in existing.lines() {
        match key_of(line).and_then(|k| edits.iter().find(|e| e.key == k)) {
            None => {
                out.push_str(line);
                out.push('\n');
            }
            Some(e) => {
                if !done.contains(&e.key) {
                    done.push(e.key);
                    if let Some(v) = &e.value {
                        let _ = writeln!(out, "{}=\"{v}\"", e.key);
                    }
                }
            }
        }
    }
    let missing: Vec<&Edit> = edits.iter().filter(|e| e.value.is_some() && !done.contains(&e.key)).collect();
    if !missing.is_empty() {
        out.push_str("# Set by the rig (cargo xtask image coal).\n");
        for e in missing {
            let _ = writeln!(out, "{}=\"{}\"", e.key, e.value.as_deref().unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_keys_in_place_and_keeps_the_rest() {
        let conf =
            "# coal\nconsole=\"text\"\nheadnode=\"true\"\n  nmi = \"kmdb\"\nconsole=\"ttya\"\n#os_console=\"ttya\"\n";
        let out = merge(conf, &LoaderOptions::default());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..4], ["# coal", "console=\"ttyb,ttya,text\"", "headnode=\"true\"", "nmi=\"panic\""]);
        assert_eq!(lines[4], "#os_console=\"ttya\"", "comments are kept");
        assert_eq!(
            out.lines().filter(|l| l.starts_with("console=")).count(),
            1,
            "duplicate console line dropped: {out}"
        );
        assert!(out.contains("\nos_console=\"ttyb\"\n"));
        assert!(!out.contains("nopanicdebug") && !out.contains("smartos="), "{out}");
    }

    #[test]
    fn kmdb_off_removes_its_keys() {
        let conf = "boot_kmdb=\"YES\"\nnopanicdebug=\"1\"\nboot_drop_into_kmdb=\"YES\"\nboot_debug=\"YES\"\n";
        let out = merge(conf, &LoaderOptions { kmdb: Kmdb::Off, ..Default::default() });
        assert!(out.starts_with("boot_kmdb=\"NO\"\n"), "{out}");
        assert!(!out.contains("nopanicdebug") && !out.contains("boot_drop_into_kmdb"), "{out}");
        assert!(!out.contains("boot_debug"), "{out}");
    }

    #[test]
    fn merging_twice_changes_nothing() {
        let opts = LoaderOptions { platform: Some("20181206T011455Z".into()), ..Default::default() };
        let once = merge("x=\"1\"\n", &opts);
        assert_eq!(merge(&once, &opts), once);
    }
}
