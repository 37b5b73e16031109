//! The run page's header: when the run was and how long it took, where it ran (accelerator,
//! host, QEMU), what it ran (each image's kernel release, the rig's commit) and the command
//! that replays it. Reports written before provenance was recorded show what they have. Pure.

use std::fmt::Write as _;

use super::html::esc;
use crate::results::model::RunReport;

/// The run directory as the page shows it: from its `build/` folder on when it lies under one
/// (the default, `<workspace>/build/runs/<run>`, as typed in the workspace), so the page names
/// no path of the machine that ran it; else as recorded.
pub fn shown_dir(run_dir: &str) -> String {
    let parts: Vec<&str> = run_dir.split('/').collect();
    match parts.iter().rposition(|p| *p == "build") {
        Some(k) if k + 1 < parts.len() => parts[k..].join("/"),
        _ => run_dir.to_string(),
    }
}

/// The command that replays the run: the same cases, CPUs, builds and seed.
pub fn replay_command(r: &RunReport) -> Option<String> {
    (!r.run_dir.is_empty()).then(|| format!("cargo xtask rig --replay {}", shown_dir(&r.run_dir)))
}

/// Seconds as people read them: `42 s`, `2 min 30 s`, `1 h 05 min`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// Writes the header's table.
pub fn render(s: &mut String, r: &RunReport) {
    let p = &r.provenance;
    let mut rows: Vec<(&str, String)> = Vec::new();
    if !p.started.is_empty() {
        let date = p.started.replacen('T', " ", 1).replace('Z', " UTC");
        rows.push(("date", esc(&date)));
    }
    match p.duration_secs() {
        Some(secs) => rows.push(("duration", duration(secs))),
        None if !r.finished => rows.push(("duration", "still going (or killed)".into())),
        None => {}
    }
    let mut accel = esc(&r.accel);
    let _ = write!(accel, ", seed {}", r.seed);
    if let Some(shard) = &r.shard {
        let _ = write!(accel, ", shard {}", esc(shard));
    }
    rows.push(("accelerator", accel));
    for (key, value) in [("host", &p.host), ("QEMU", &p.qemu_version), ("rig commit", &p.rig_commit)] {
        if !value.is_empty() {
            rows.push((key, esc(value)));
        }
    }
    if !p.kernel_releases.is_empty() {
        let kernels: Vec<String> = p.kernel_releases.iter().map(|(i, k)| format!("{}: {}", esc(i), esc(k))).collect();
        rows.push(("kernels", kernels.join("<br>")));
    }
    if let Some(cmd) = replay_command(r) {
        rows.push(("replay", format!("<code>{}</code>", esc(&cmd))));
    }
    s.push_str("<table id=\"header\">");
    for (key, value) in rows {
        let _ = write!(s, "<tr><th>{key}</th><td>{value}</td></tr>");
    }
    s.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixture;

    #[test]
    fn the_run_directory_is_shown_from_its_build_folder() {
        assert_eq!(shown_dir("/home/k/rig/build/runs/20261203T140000Z-rig"), "build/runs/20261203T140000Z-rig");
        assert_eq!(shown_dir("/work/main/rig/../build/test-runs/x"), "build/test-runs/x");
        assert_eq!(shown_dir("/srv/runs/x"), "/srv/runs/x");
        assert_eq!(shown_dir("/srv/build"), "/srv/build");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(150.0), "2 min 30 s");
        assert_eq!(duration(3900.0), "1 h 05 min");
    }

    #[test]
    fn the_header_says_when_where_what_and_how_to_replay() {
        let mut r = fixture::report(vec![]);
        r.run_dir = "/home/k/rig/build/runs/20261203T140000Z-rig".into();
        r.provenance = crate::results::provenance::Provenance {
            command: vec!["cargo".into(), "xtask".into(), "rig".into()],
            started: "2026-12-03T14:00:00Z".into(),
            ended: "2026-12-03T14:02:30Z".into(),
            qemu_version: "QEMU emulator version 7.2.19".into(),
            kernel_releases: [("linux".to_string(), "6.1.0-41-amd64".to_string())].into(),
            rig_commit: "2d27c0a".into(),
            host: "ci-7".into(),
            ..Default::default()
        };
        let mut s = String::new();
        render(&mut s, &r);
        for want in [
            "<th>date</th><td>2026-12-03 14:00:00 UTC</td>",
            "<th>duration</th><td>2 min 30 s</td>",
            "<th>accelerator</th><td>tcg, seed 1</td>",
            "<th>host</th><td>ci-7</td>",
            "<th>QEMU</th><td>QEMU emulator version 7.2.19</td>",
            "<th>rig commit</th><td>2d27c0a</td>",
            "<th>kernels</th><td>linux: 6.1.0-41-amd64</td>",
            "<th>replay</th><td><code>cargo xtask rig --replay build/runs/20261203T140000Z-rig</code></td>",
        ] {
            assert!(s.contains(want), "{want} in {s}");
        }
        assert!(!s.contains("/home/k"), "no machine path: {s}");
        // An old report without provenance still gets a header, with what it has.
        let mut s = String::new();
        render(&mut s, &fixture::report(vec![]));
        assert_eq!(s, "<table id=\"header\"><tr><th>accelerator</th><td>tcg, seed 1</td></tr></table>");
    }
}
