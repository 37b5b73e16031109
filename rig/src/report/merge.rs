//! Joins the reports of a sharded campaign (`--shard K/N` on N runners) into one: iterations
//! of the same case × CPU × image are put together, counts and comparisons recomputed, so the
//! merged verdict equals what one runner doing everything would have said.

use anyhow::{Result, bail};

use crate::results::StopReason;
use crate::results::compare;
use crate::results::model::{CaseRun, RunReport};
use crate::results::shard::Shard;

/// Merges reports, each named by its shard (or run directory); see [`merge_named`].
pub fn merge(reports: Vec<RunReport>) -> Result<RunReport> {
    merge_named(reports.into_iter().map(|r| (r.shard.clone().unwrap_or_else(|| r.run_dir.clone()), r)).collect())
}

/// Merges reports, each with the name its errors give it (its file); fails on a report this
/// rig cannot read (another schema, a negative time), on reports of different campaigns
/// (accelerator or seed differ) and on an iteration that two reports both ran. A shard that
/// stopped early or never finished makes the merge say so (`stopped_early`, `finished`).
pub fn merge_named(reports: Vec<(String, RunReport)>) -> Result<RunReport> {
    let Some((first_name, first)) = reports.first() else { bail!("nothing to merge") };
    let first_name = first_name.clone();
    for (name, r) in &reports {
        readable(r).map_err(|why| anyhow::anyhow!("report {name}: {why}"))?;
    }
    let mut out = RunReport {
        schema: first.schema,
        accel: first.accel.clone(),
        seed: first.seed,
        run_dir: first.run_dir.clone(),
        shard: None,
        stopped_early: None,
        finished: true,
        evidence_errors: Vec::new(),
        runs: Vec::new(),
        comparisons: Vec::new(),
        bisection: None,
        provenance: first.provenance.clone(),
    };
    let mut shards: Vec<String> = Vec::new();
    for (file, r) in reports {
        let name = match &r.shard {
            Some(k) if *k != file => format!("{file} (shard {k})"),
            _ => file,
        };
        for (what, theirs, first) in
            [("accelerator", r.accel.clone(), out.accel.clone()), ("seed", r.seed.to_string(), out.seed.to_string())]
        {
            if theirs != first {
                bail!(
                    "report {name} has {what} {theirs} where the first ({first_name}) has {first}: the shards of one \
                     campaign share it (run every shard with the same --seed, accelerator and rig)"
                );
            }
        }
        shards.extend(r.shard.clone());
        if let Some(why) = &r.stopped_early {
            add_stop(&mut out.stopped_early, StopReason::Shard { name: name.clone(), why: Box::new(why.clone()) });
        }
        out.finished &= r.finished;
        out.provenance.absorb(&r.provenance);
        out.evidence_errors.extend(r.evidence_errors);
        for run in r.runs {
            match out.runs.iter_mut().find(|o| o.case == run.case && o.cpu == run.cpu && o.image == run.image) {
                None => out.runs.push(run),
                Some(o) => absorb(o, run, &name)?,
            }
        }
    }
    for run in &mut out.runs {
        run.iterations.sort_by_key(|i| i.index);
        // Listed and sorted: the union with nothing.
        run.assigned.merge(&Default::default());
        run.retally();
    }
    out.comparisons = comparisons(&out.runs);
    if let Some(why) = missing_shards(&shards)? {
        // A runner that died before writing its report leaves no file at all: the merge of
        // the others would otherwise give a verdict on part of the campaign as if it were whole.
        out.finished = false;
        add_stop(&mut out.stopped_early, StopReason::from(why));
    }
    if !shards.is_empty() {
        out.run_dir = format!("merged from shards {}", shards.join(", "));
    }
    Ok(out)
}

/// Adds `note` to the merge's reasons for stopping early.
fn add_stop(stopped_early: &mut Option<StopReason>, note: StopReason) {
    *stopped_early = Some(match stopped_early.take() {
        Some(before) => before.and(note),
        None => note,
    });
}

/// Which shards of the campaign no report was given for, when every report names its shard
/// (`K/N`); an error when they disagree on N (shards of different campaigns).
fn missing_shards(named: &[String]) -> Result<Option<String>> {
    let Ok(shards) = named.iter().map(|s| s.parse::<Shard>()).collect::<Result<Vec<_>, _>>() else { return Ok(None) };
    let Some(count) = shards.first().map(|s| s.count) else { return Ok(None) };
    if let Some(other) = shards.iter().find(|s| s.count != count) {
        bail!(
            "shard {other} and shard {}/{count} are of campaigns split in different ways: merge the {count} shards of one campaign",
            shards[0].index
        );
    }
    let missing: Vec<String> =
        (1..=count).filter(|k| !shards.iter().any(|s| s.index == *k)).map(|k| format!("{k}/{count}")).collect();
    Ok((!missing.is_empty()).then(|| {
        format!(
            "no report of shard {} was given to the merge (its runner may have died before writing one): the verdict covers the other shards' iterations only",
            missing.join(", ")
        )
    }))
}

/// Adds `run` (of the report `name`) to the same case × CPU × image of the reports before it.
fn absorb(into: &mut CaseRun, run: CaseRun, name: &str) -> Result<()> {
    for it in run.iterations {
        if into.iterations.iter().any(|x| x.index == it.index) {
            bail!(
                "iteration {} of {} on {} ({}) is in two reports, the second {name}: were the shards of different \
                 campaigns?",
                it.index,
                into.case,
                into.cpu,
                into.image
            );
        }
        into.iterations.push(it);
    }
    into.assigned.merge(&run.assigned);
    into.stopped = into.stopped.take().or(run.stopped);
    // A run that could not start on one runner may have run on another.
    if into.not_run.is_some() && run.not_run.is_none() {
        into.not_run = None;
    }
    Ok(())
}

/// Why a report cannot be merged as it is: a schema other than this rig's, or a time that is
/// negative or not a number (a hand-edited or damaged file).
fn readable(r: &RunReport) -> Result<(), String> {
    if r.schema != crate::results::model::SCHEMA {
        return Err(format!(
            "schema {}; this rig reads schema {} (merge with the rig that wrote it)",
            r.schema,
            crate::results::model::SCHEMA
        ));
    }
    for run in &r.runs {
        for it in &run.iterations {
            let step = it.steps.iter().find(|s| !(s.t.is_finite() && s.t >= 0.0));
            if !(it.secs.is_finite() && it.secs >= 0.0) || step.is_some() {
                return Err(format!(
                    "iteration {} of {} on {} ({}) took {} s{}: a time is never negative",
                    it.index,
                    run.case,
                    run.cpu,
                    run.image,
                    it.secs,
                    step.map(|s| format!(", its step '{}' began at {} s", s.step, s.t)).unwrap_or_default()
                ));
            }
        }
    }
    Ok(())
}

/// Comparisons for compared runs, grouped by case and CPU in report order.
fn comparisons(runs: &[CaseRun]) -> Vec<compare::Comparison> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in runs.iter().filter(|r| r.compared) {
        if !keys.contains(&(r.case.as_str(), r.cpu.as_str())) {
            keys.push((&r.case, &r.cpu));
        }
    }
    keys.into_iter()
        .map(|(case, cpu)| {
            let group: Vec<&CaseRun> = runs.iter().filter(|r| r.compared && r.case == case && r.cpu == cpu).collect();
            compare::compare(&group, group[0].hunts.as_ref())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Outcome;
    use crate::results::fixture::{self, case_run, iteration, panic};
    use crate::results::shard::{Shard, assign};

    fn run(image: &str, outcomes: &[(u32, bool)]) -> CaseRun {
        let its = outcomes
            .iter()
            .map(|&(i, p)| iteration(i, if p { panic("kernel BUG in f") } else { Outcome::Completed }))
            .collect();
        let mut r = case_run(image, its);
        (r.compared, r.iterations_planned) = (true, 6);
        r
    }

    fn report(runs: Vec<CaseRun>, shard: Option<&str>) -> RunReport {
        let comparisons = comparisons(&runs);
        RunReport { seed: 9, run_dir: "x".into(), shard: shard.map(String::from), comparisons, ..fixture::report(runs) }
    }

    #[test]
    fn merged_shards_equal_the_single_run() {
        let debug: Vec<(u32, bool)> = (1..=6).map(|i| (i, i % 3 != 0)).collect();
        let fixed: Vec<(u32, bool)> = (1..=6).map(|i| (i, false)).collect();
        let single = report(vec![run("debug", &debug), run("fixed", &fixed)], None);

        let mut parts = Vec::new();
        for k in 1..=2 {
            let a = assign(&[6, 6], Some(Shard { index: k, count: 2 }));
            let pick = |all: &[(u32, bool)], mine: &crate::results::shard::Assigned| {
                all.iter().copied().filter(|(i, _)| mine.iter().any(|m| m == *i)).collect::<Vec<_>>()
            };
            parts.push(report(
                vec![run("debug", &pick(&debug, &a[0])), run("fixed", &pick(&fixed, &a[1]))],
                Some(&format!("{k}/2")),
            ));
        }
        let merged = merge(parts).unwrap();
        for (m, s) in merged.runs.iter().zip(&single.runs) {
            assert_eq!(m.tally, s.tally);
            assert_eq!(m.assigned.iter().collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
        }
        assert_eq!(merged.comparisons.len(), 1);
        let (mc, sc) = (&merged.comparisons[0], &single.comparisons[0]);
        assert_eq!(mc.conclusions[0].status, sc.conclusions[0].status);
        assert_eq!(mc.conclusions[0].p_value, sc.conclusions[0].p_value);
        assert_eq!(merged.exit_code(), single.exit_code());
        let junit = crate::report::junit::render(&merged);
        assert!(junit.contains("name=\"c.epyc.compare\""), "{junit}");
        assert!(junit.contains("fixed fixed\">") || junit.contains("name=\"fixed fixed\""), "{junit}");
        assert!(merged.run_dir.contains("1/2") && merged.run_dir.contains("2/2"));
    }

    #[test]
    fn overlapping_reports_are_refused() {
        let a = report(vec![run("debug", &[(1, true)])], Some("1/2"));
        let b = report(vec![run("debug", &[(1, false)])], Some("1/2"));
        assert!(
            merge(vec![a, b]).unwrap_err().to_string().contains("iteration 1 of c on epyc (debug) is in two reports")
        );
    }

    #[test]
    fn a_shard_that_never_finished_leaves_the_merge_unfinished() {
        let a = report(vec![run("debug", &[(1, true)])], Some("1/2"));
        let mut b = report(vec![run("debug", &[(2, true)])], Some("2/2"));
        b.finished = false;
        let merged = merge(vec![a, b]).unwrap();
        assert!(!merged.finished);
        assert_eq!(merged.exit_code(), 3);
        assert!(crate::report::table::render(&merged).starts_with("UNFINISHED"));
        assert!(crate::report::junit::render(&merged).contains("the run never ended"));
    }

    #[test]
    fn a_report_without_the_finished_field_reads_as_finished() {
        let r = report(vec![run("debug", &[(1, true)])], None);
        let mut json = serde_json::to_value(&r).unwrap();
        json.as_object_mut().unwrap().remove("finished");
        let back: RunReport = serde_json::from_value(json).unwrap();
        assert!(back.finished);
    }

    #[test]
    fn a_report_without_provenance_reads_and_merges_with_one_that_has_it() {
        let old = report(vec![run("debug", &[(1, true)])], Some("1/2"));
        let mut json = serde_json::to_value(&old).unwrap();
        json.as_object_mut().unwrap().remove("provenance");
        let old: RunReport = serde_json::from_value(json).unwrap();
        assert_eq!(old.provenance, Default::default());
        let mut new = report(vec![run("debug", &[(2, true)])], Some("2/2"));
        new.provenance.started = "2026-12-03T14:00:00Z".into();
        new.provenance.ended = "2026-12-03T14:01:00Z".into();
        new.provenance.kernel_releases.insert("debug".into(), "6.1.0-41-amd64".into());
        let merged = merge(vec![old, new]).unwrap();
        assert_eq!(merged.provenance.started, "2026-12-03T14:00:00Z");
        assert_eq!(merged.provenance.kernel_releases["debug"], "6.1.0-41-amd64");
    }

    #[test]
    fn reports_of_different_campaigns_are_refused() {
        let a = report(vec![run("debug", &[(1, true)])], Some("1/2"));
        for (change, what) in [
            ((|r: &mut RunReport| r.seed = 10) as fn(&mut RunReport), " has seed 10 where the first (1/2) has 9"),
            (|r: &mut RunReport| r.accel = "kvm".into(), " has accelerator kvm where the first (1/2) has tcg"),
            (|r: &mut RunReport| r.schema = 2, ": schema 2; this rig reads schema 1"),
            (|r: &mut RunReport| r.runs[0].iterations[0].secs = -1.0, ": iteration 2 of c on epyc (debug) took -1 s"),
        ] {
            let mut b = report(vec![run("debug", &[(2, true)])], Some("2/2"));
            change(&mut b);
            let err = merge(vec![a.clone(), b]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("report 2/2{what}")), "{err}");
        }
    }

    #[test]
    fn a_missing_shard_leaves_the_merge_unfinished_and_named() {
        let a = report(vec![run("debug", &[(1, true)])], Some("1/3"));
        let c = report(vec![run("debug", &[(3, true)])], Some("3/3"));
        let merged = merge(vec![a.clone(), c.clone()]).unwrap();
        assert!(!merged.finished);
        assert_eq!(merged.exit_code(), 3);
        let why = merged.stopped_early.map(|s| s.to_string()).unwrap_or_default();
        assert!(why.contains("no report of shard 2/3 was given to the merge"), "{why}");
        let b = report(vec![run("debug", &[(2, true)])], Some("2/3"));
        let whole = merge(vec![a.clone(), b, c]).unwrap();
        assert!(whole.finished && whole.stopped_early.is_none());
        let other = report(vec![run("debug", &[(2, true)])], Some("2/4"));
        let err = merge(vec![a, other]).unwrap_err().to_string();
        assert!(err.contains("split in different ways"), "{err}");
    }

    #[test]
    fn a_shard_that_stopped_early_is_named() {
        let a = report(vec![run("debug", &[(1, true)])], Some("1/2"));
        let mut b = report(vec![run("debug", &[(2, true)])], Some("2/2"));
        b.stopped_early = Some(StopReason::from("interrupted (Ctrl-C or SIGTERM)".to_string()));
        let merged = merge(vec![a, b]).unwrap();
        assert_eq!(
            merged.stopped_early.map(|s| s.to_string()).as_deref(),
            Some("shard 2/2 stopped early: interrupted (Ctrl-C or SIGTERM)")
        );
    }
}
