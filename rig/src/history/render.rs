//! The history as text: the run list, a crash's sightings, and triage's short answer.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::query::{BuildRate, Entry, RunRow, Sightings};

/// Evidence directories listed per crash before "and N more".
const EVIDENCE_SHOWN: usize = 5;

/// A unix time as `2026-11-30T05:39:20Z`.
pub fn when(unix: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)).to_string()
}

/// `3/10 (30.0%)`.
pub fn rate(hits: u32, ran: u32) -> String {
    let pct = if ran == 0 { 0.0 } else { 100.0 * f64::from(hits) / f64::from(ran) };
    format!("{hits}/{ran} ({pct:.1}%)")
}

fn build(image: &str, key: Option<&str>) -> String {
    key.map_or_else(|| image.to_string(), |k| format!("{image} ({k})"))
}

/// The recent runs, newest first.
pub fn runs(rows: &[RunRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let shard = r.shard.as_deref().map(|s| format!(" shard {s}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  exit {}  {} cases, {} iterations, {} panics  {}{shard} ({})",
            when(r.ended_at),
            r.exit_code,
            r.cases,
            r.iterations,
            r.panics,
            r.run_dir,
            r.accel
        );
        if r.source != r.run_dir {
            let _ = writeln!(out, "    read from {}", r.source);
        }
        for t in &r.titles {
            let _ = writeln!(out, "    crash: {t}");
        }
    }
    out
}

fn entry_line(e: &Entry) -> String {
    format!(
        "{}  {} on {}, {}: {}  {}",
        when(e.ended_at),
        e.case,
        e.cpu,
        build(&e.image, e.image_key.as_deref()),
        rate(e.hits, e.ran),
        e.run_dir
    )
}

fn build_line(b: &BuildRate) -> String {
    format!("{}: {} in {}", build(&b.image, b.image_key.as_deref()), rate(b.hits, b.ran), b.cases.join(", "))
}

/// Where a crash was seen: first and last, per run, per build, and the evidence.
pub fn sightings(s: &Sightings) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", s.title);
    let _ = writeln!(out, "  {} hits; first seen {}, last seen {}", s.hits, when(s.first_seen), when(s.last_seen));
    let _ = writeln!(out, "  runs:");
    for e in &s.entries {
        let _ = writeln!(out, "    {}", entry_line(e));
    }
    let _ = writeln!(out, "  hit rate per build (iterations of the cases that hit it):");
    for b in &s.builds {
        let _ = writeln!(out, "    {}", build_line(b));
    }
    let _ = writeln!(out, "  evidence (newest first):");
    for ev in s.evidence.iter().take(EVIDENCE_SHOWN) {
        let _ = writeln!(out, "    {}", ev.dir);
        for d in &ev.dumps {
            let _ = writeln!(out, "      dump {d}");
        }
    }
    if s.evidence.len() > EVIDENCE_SHOWN {
        let _ = writeln!(out, "    and {} more", s.evidence.len() - EVIDENCE_SHOWN);
    }
    out
}

/// Triage's answer for one crash: which case and build reproduced it, or that none did.
pub fn known(title: &str, s: Option<&Sightings>) -> String {
    let Some(s) = s else {
        return format!("  history:   not seen before ('{title}' is in no recorded run)\n");
    };
    let mut out = format!(
        "  history:   known: {} hits, first seen {}, last seen {}\n",
        s.hits,
        when(s.first_seen),
        when(s.last_seen)
    );
    let _ = writeln!(out, "  reproduced by:");
    for e in &s.entries {
        let _ = writeln!(out, "    {}", entry_line(e));
    }
    if let Some(ev) = s.evidence.first() {
        let _ = writeln!(out, "  latest evidence: {}", ev.dir);
    }
    out
}
