//! Host-side memory dumps over QMP: pause the guest, `dump-guest-memory` detached, wait for
//! `DUMP_COMPLETED` under a deadline. Never fails: whatever goes wrong (a full disk, QEMU
//! dying mid-dump, a timeout) is recorded in [`DumpInfo::error`] next to what was written.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use qapi::qmp::{DUMP_COMPLETED, DumpGuestMemoryFormat, DumpStatus};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::options::DumpOptions;
use super::space;
use crate::guest::GuestLink;
use crate::qmp::{Qmp, QmpError};

/// Longest wait for one QMP reply (not for the dump itself).
pub(crate) const QMP_CALL: Duration = Duration::from_secs(5);

const MIB: f64 = 1024.0 * 1024.0;

/// The dump's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpFormat {
    /// An ELF core of all guest RAM (fast; as large as the RAM, sparse where it is zero).
    Elf,
    /// kdump-compressed, zlib: a few percent of RAM. QEMU 7.2 writes it in makedumpfile's
    /// flattened format, which `crash` reads as it is (`makedumpfile -R` makes it plain).
    KdumpZlib,
}

impl DumpFormat {
    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DumpFormat::Elf => "elf",
            DumpFormat::KdumpZlib => "kdump-zlib",
        }
    }

    /// The file extension the rig gives dumps of this format.
    pub fn extension(self) -> &'static str {
        match self {
            DumpFormat::Elf => "elf",
            DumpFormat::KdumpZlib => "kdump",
        }
    }

    fn qapi(self) -> DumpGuestMemoryFormat {
        match self {
            DumpFormat::Elf => DumpGuestMemoryFormat::elf,
            DumpFormat::KdumpZlib => DumpGuestMemoryFormat::kdump_zlib,
        }
    }
}

impl std::fmt::Display for DumpFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DumpFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "elf" => Ok(DumpFormat::Elf),
            "kdump" | "kdump-zlib" => Ok(DumpFormat::KdumpZlib),
            _ => Err(format!("unknown dump format {s:?}: expected elf or kdump")),
        }
    }
}

/// One dump as it ended: where, how big, how long, and why it failed if it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DumpInfo {
    /// The dump file (absolute).
    pub path: PathBuf,
    /// Its format.
    pub format: DumpFormat,
    /// Bytes in the file (its apparent size; whatever exists when the dump failed).
    pub bytes: u64,
    /// Seconds from the call to the end (completion, failure or timeout).
    pub secs: f64,
    /// Milliseconds from the call to QEMU accepting the dump command (pause included).
    pub start_latency_ms: f64,
    /// Why there is no complete dump, if it failed.
    pub error: Option<String>,
    /// Why the rig chose not to take this dump or not to keep it, if so: the per-signature
    /// limit (naming the dumps kept instead), too little free space, the size cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl DumpInfo {
    /// Whether the dump completed and was kept.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.skipped.is_none()
    }

    /// One report line: path and size, why it failed, or why it was not kept.
    pub fn summary(&self) -> String {
        let size = format!("{:.1} MiB", self.bytes as f64 / MIB);
        match (&self.error, &self.skipped) {
            (_, Some(why)) => format!("dump {} not kept: {why}", self.path.display()),
            (None, None) => format!("dump {} ({}, {size}, {:.2} s)", self.path.display(), self.format, self.secs),
            (Some(why), None) => {
                format!("dump {} ({}) FAILED: {why} ({size} on disk)", self.path.display(), self.format)
            }
        }
    }

    fn new(path: PathBuf, format: DumpFormat) -> DumpInfo {
        DumpInfo { path, format, bytes: 0, secs: 0.0, start_latency_ms: 0.0, error: None, skipped: None }
    }

    /// A dump to `path` the rig chose not to take, and why.
    pub fn not_taken(path: &Path, format: DumpFormat, why: String) -> DumpInfo {
        let mut info = DumpInfo::new(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()), format);
        info.skipped = Some(why);
        info
    }

    /// Deletes a written dump the rig chose not to keep, recording why (and whether the file
    /// could not be deleted).
    pub fn discard(&mut self, why: String) {
        self.skipped = Some(match std::fs::remove_file(&self.path) {
            Ok(()) => {
                self.bytes = 0;
                format!("deleted once written: {why}")
            }
            Err(e) => format!("{why} (and it could not be deleted: {e})"),
        });
    }
}

/// Dumps the guest's memory to `path`: pauses the guest if it runs (it stays paused),
/// starts a detached `dump-guest-memory` and waits for `DUMP_COMPLETED` until `timeout`.
/// Never panics and never waits past `timeout` (plus one QMP reply at most).
pub async fn host_dump(link: &GuestLink, path: &Path, format: DumpFormat, timeout: Duration) -> DumpInfo {
    let began = Instant::now();
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut info = DumpInfo::new(path.clone(), format);
    let mut unfinished = Unfinished(Some(&path));
    let r = run(link.qmp(), &path, format, began, began + timeout, &mut info).await;
    unfinished.0 = None;
    // QEMU 7.2 sends DUMP_COMPLETED before its dump thread cleans up (closing the file and
    // freeing its state). A next dump started in that window is failed by that cleanup ("failed
    // to write start flat header", "failed to sync dump_bitmap", a GLib assertion on stderr):
    // the thread is done once QEMU no longer holds the file open.
    if !matches!(&r, Err(e) if e.starts_with("not finished")) {
        closed_by(link.qemu_pid(), &path, Instant::now() + QMP_CALL).await;
    }
    info.secs = began.elapsed().as_secs_f64();
    info.bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    match r {
        Ok(()) => {
            tracing::info!(path = %path.display(), %format, bytes = info.bytes, secs = info.secs, latency_ms = info.start_latency_ms, "dump written")
        }
        Err(mut why) => {
            if let Some(full) = full_disk(&path) {
                why.push_str(&full);
                why.push_str(&remove_partial(&path, &mut info));
            }
            tracing::warn!(path = %path.display(), %format, error = %why, "dump failed");
            info.error = Some(why);
        }
    }
    info
}

async fn run(
    qmp: &Qmp,
    path: &Path,
    format: DumpFormat,
    began: Instant,
    deadline: Instant,
    info: &mut DumpInfo,
) -> Result<(), String> {
    let call = || QMP_CALL.min(deadline.saturating_duration_since(Instant::now())).max(Duration::from_millis(100));
    qmp.execute(&qapi::qmp::stop {}, call()).await.map_err(|e| explain(e, "pausing the guest"))?;
    let from = qmp.event_cursor();
    let cmd = qapi::qmp::dump_guest_memory {
        paging: false,
        protocol: format!("file:{}", path.display()),
        detach: Some(true),
        format: Some(format.qapi()),
        begin: None,
        length: None,
    };
    qmp.execute(&cmd, call()).await.map_err(|e| explain(e, "starting the dump"))?;
    info.start_latency_ms = began.elapsed().as_secs_f64() * 1000.0;
    match qmp.wait_event("DUMP_COMPLETED", from, deadline).await {
        Ok((_, ev)) => match ev.decode::<DUMP_COMPLETED>() {
            Some(d) if d.error.is_none() && d.result.status == DumpStatus::completed => Ok(()),
            Some(d) => Err(match d.error {
                Some(e) => format!("QEMU: {e}"),
                None => format!(
                    "QEMU ended the dump as {:?} after {} of {} bytes",
                    d.result.status, d.result.completed, d.result.total
                ),
            }),
            None => Err(format!("unreadable DUMP_COMPLETED event: {}", ev.data)),
        },
        Err(QmpError::Closed(_)) => Err("QEMU exited during the dump".into()),
        Err(e) => {
            let waited = began.elapsed().as_secs_f64();
            let progress = match qmp.execute(&qapi::qmp::query_dump {}, Duration::from_secs(1)).await {
                Ok(q) => format!("{} of {} bytes of guest memory written", q.completed, q.total),
                Err(q) => format!("progress unknown: {q}"),
            };
            tracing::debug!("dump wait ended: {e}");
            Err(format!("not finished after {waited:.1} s ({progress}); QEMU may still be writing it"))
        }
    }
}

/// A dump whose future is dropped before its end (the run was stopped: Ctrl-C, SIGTERM, SIGHUP)
/// would leave a file that looks whole to `crash`, `mdb` and the next reader. When dropped
/// still holding its path, the dump is renamed `<name>.partial`, with a note beside it.
struct Unfinished<'a>(Option<&'a Path>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.0 {
            mark_partial(path);
        }
    }
}

/// Renames an unfinished dump `<name>.partial` and writes `<name>.partial.txt` saying why.
fn mark_partial(path: &Path) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut note = partial.as_os_str().to_owned();
    note.push(".txt");
    let said = match std::fs::rename(path, &partial) {
        Ok(()) => format!(
            "The run was stopped while QEMU was writing this dump ({:.1} MiB then): it is partial and was renamed \
             from {}.\n",
            meta.len() as f64 / MIB,
            path.display()
        ),
        Err(e) => format!(
            "The run was stopped while QEMU was writing {}; it is partial (renaming it: {e}).\n",
            path.display()
        ),
    };
    let _ = std::fs::write(note, said);
    tracing::warn!(path = %partial.display(), "dump cut by a stop; kept as partial");
}

/// Waits until process `pid` holds no open file descriptor on `path` (or `deadline`), then a
/// little more: QEMU's dump thread closes the file first in its cleanup, then frees the rest.
async fn closed_by(pid: i32, path: &Path, deadline: Instant) {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let open = || {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
        fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
    };
    while open() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// QEMU's write errors drop errno ("failed to write ..."): say when the dump's filesystem
/// is full, the likely cause.
fn full_disk(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    let free = space::free_bytes(dir)?;
    (free < 1 << 20).then(|| format!(" (the filesystem holding {} is full: {free} bytes free)", dir.display()))
}

/// Removes what a dump that failed on a full disk left (a regular file only: never a device
/// such as /dev/full), giving the space back to the rest of the run's evidence; says so.
fn remove_partial(path: &Path, info: &mut DumpInfo) -> String {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            let said = format!("; the partial file ({:.1} MiB) was removed", info.bytes as f64 / MIB);
            info.bytes = 0;
            said
        }
        Err(e) => format!("; the partial file could not be removed: {e}"),
    }
}

fn explain(e: QmpError, what: &str) -> String {
    match e {
        QmpError::Closed(_) => format!("{what}: QEMU has exited"),
        QmpError::Command { desc, .. } => format!("{what}: QEMU refused: {desc}"),
        e => format!("{what}: {e}"),
    }
}

/// [`host_dump`] under the options' size cap and timeout, when the filesystem has room: a dump
/// that may not fit in the free space ([`space::needed`]), or an ELF dump of a guest whose RAM
/// exceeds the cap, is not taken; a dump written over the cap is deleted. Either way the
/// reason is in [`DumpInfo::skipped`].
pub async fn dump_capped(link: &GuestLink, path: &Path, opts: &DumpOptions) -> DumpInfo {
    if let Some(why) = before_dump(link, path, opts).await {
        return DumpInfo::not_taken(path, opts.format, why);
    }
    let mut info = host_dump(link, path, opts.format, opts.timeout).await;
    if let Some(cap) = opts.max_bytes
        && info.bytes > cap
    {
        info.discard(format!("{:.1} MiB is over the {:.0} MiB cap", info.bytes as f64 / MIB, cap as f64 / MIB));
    }
    info
}

/// Why a dump to `path` must not start, if so: the size cap (ELF) or the free space. When the
/// guest's RAM or the free space cannot be read, the dump goes ahead.
async fn before_dump(link: &GuestLink, path: &Path, opts: &DumpOptions) -> Option<String> {
    let mem = link.qmp().execute(&qapi::qmp::query_memory_size_summary {}, QMP_CALL).await.ok()?;
    let ram = mem.base_memory + mem.plugged_memory.unwrap_or(0);
    if let Some(cap) = opts.max_bytes
        && opts.format == DumpFormat::Elf
        && ram > cap
    {
        return Some(format!(
            "an ELF dump holds all {:.0} MiB of guest memory, over the {:.0} MiB cap (use the kdump format or raise the cap)",
            ram as f64 / MIB,
            cap as f64 / MIB
        ));
    }
    let dir = path.parent()?;
    space::shortfall(dir, space::free_bytes(dir)?, space::needed(opts.format, ram))
}

/// The dump after a panic, as the options ask: `None` when the policy skips panics, else a
/// dump to [`DumpOptions::panic_path`], or, when `skip` says why not (the signature has its
/// dumps already), a record of that. The guest is normally already paused by pvpanic; it is
/// paused here if not (a panic read off the console, without pvpanic).
pub async fn capture_panic(link: &GuestLink, dir: &Path, opts: &DumpOptions, skip: Option<String>) -> Option<DumpInfo> {
    if !opts.policy.on_panic() {
        return None;
    }
    Some(dump_unless(link, &opts.panic_path(dir), opts, skip.as_deref()).await)
}

/// [`dump_capped`] to `path`, unless `skip` says why not: then a record of that, no dump.
pub async fn dump_unless(link: &GuestLink, path: &Path, opts: &DumpOptions, skip: Option<&str>) -> DumpInfo {
    match skip {
        Some(why) => DumpInfo::not_taken(path, opts.format, why.to_string()),
        None => dump_capped(link, path, opts).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name() {
        assert_eq!("elf".parse::<DumpFormat>().unwrap(), DumpFormat::Elf);
        assert_eq!("kdump".parse::<DumpFormat>().unwrap(), DumpFormat::KdumpZlib);
        assert_eq!("kdump-zlib".parse::<DumpFormat>().unwrap(), DumpFormat::KdumpZlib);
        assert!("lzo".parse::<DumpFormat>().is_err());
        assert_eq!(serde_json::to_value(DumpFormat::KdumpZlib).unwrap(), "kdump-zlib");
        assert_eq!(serde_json::to_string(&DumpFormat::KdumpZlib.qapi()).unwrap(), "\"kdump-zlib\"");
    }

    #[test]
    fn summary_says_size_or_failure() {
        let mut d = DumpInfo::new("/r/vmcore.kdump".into(), DumpFormat::KdumpZlib);
        d.bytes = 30 * 1024 * 1024;
        d.secs = 0.8;
        assert_eq!(d.summary(), "dump /r/vmcore.kdump (kdump-zlib, 30.0 MiB, 0.80 s)");
        d.error = Some("QEMU: No space left on device".into());
        assert!(d.summary().contains("FAILED: QEMU: No space left on device"), "{}", d.summary());
        let d = DumpInfo::not_taken(Path::new("/r/vmcore.kdump"), DumpFormat::KdumpZlib, "2 already kept".into());
        assert!(!d.ok());
        assert_eq!(d.summary(), "dump /r/vmcore.kdump not kept: 2 already kept");
    }

    #[test]
    fn a_discarded_dump_is_deleted_and_says_why() {
        let dir = std::env::temp_dir().join(format!("rig-discard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = DumpInfo::new(dir.join("vmcore.kdump"), DumpFormat::KdumpZlib);
        std::fs::write(&d.path, vec![0u8; 1 << 20]).unwrap();
        d.bytes = 1 << 20;
        d.discard("2 already kept".into());
        assert!(!d.path.exists() && d.bytes == 0 && !d.ok());
        assert_eq!(d.skipped.as_deref(), Some("deleted once written: 2 already kept"));
        d.discard("gone".into());
        assert!(d.skipped.as_deref().unwrap().starts_with("gone (and it could not be deleted"), "{d:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
