//! The story at the end of `cargo xtask reproduce` (`rig::reproduce::story`): assembled from
//! what each step found, with the commands that rerun each step, printed and written as the
//! run directory's `report.json` and `index.html`.

use std::path::Path;

use rig::reproduce::Reading;
use rig::reproduce::story::{Rate, Story, Window};
use rig::results::model::RunReport;

use crate::reproduce_cmd::ReproduceArgs;

/// The story of a reproduction of `case` on `image`: the window when one was searched, the
/// run of the (narrowed) case when one ran.
pub fn tell(
    a: &ReproduceArgs,
    reading: &Reading,
    case: &Path,
    image: &str,
    window: Option<Window>,
    run: Option<&RunReport>,
) -> Story {
    let text = Path::new(&a.text).display().to_string();
    let seed = a.seed.map(|s| format!(" --seed {s}")).unwrap_or_default();
    let case_file = case.display().to_string();
    let mut commands = vec![("read, match".to_string(), format!("cargo xtask reproduce {text} --list"))];
    let mut used = case_file.clone();
    if let (Some(n), Some(w)) = (a.search_window, &window) {
        let on = a.bisect.as_deref().and_then(|b| b.rsplit(',').next()).unwrap_or(image).trim();
        commands.push((
            "window search".into(),
            format!("cargo xtask reproduce {text} --case {case_file} --image {on} --search-window {n}{seed}"),
        ));
        used.clone_from(&w.narrowed_case);
    }
    let bisection = run.and_then(|r| r.bisection.as_ref());
    match &a.bisect {
        Some(builds) => {
            let newest = builds.rsplit(',').next().unwrap_or(image).trim();
            commands.push((
                "reproduce".into(),
                format!("cargo xtask rig --case {used} --image {newest} --until-panic{seed}"),
            ));
            commands.push(("bisect".into(), format!("cargo xtask rig --case {used} --bisect {builds}{seed}")));
        }
        None => commands
            .push(("reproduce".into(), format!("cargo xtask rig --case {used} --image {image} --until-panic{seed}"))),
    }
    let ran = run.filter(|_| bisection.is_none()).map(|r| rig::reproduce::judge(r).counts());
    let reproduction = window.as_ref().map(|w| w.rate).or(ran.map(|(h, n)| Rate::new(h, n)));
    Story {
        signature: reading.report.headline().to_string(),
        frames: reading.frames.clone(),
        case: rig::case::load(case).map(|c| c.case.name).unwrap_or_else(|_| case_file.clone()),
        case_file,
        window,
        reproduction,
        first_bad: bisection.and_then(|b| b.first_bad.clone()),
        bisection: bisection.map(|b| b.answer.clone()),
        commands,
    }
}

/// Prints the story and writes it into `run_dir` (a failure to write is a warning: the
/// story was printed).
pub fn show(story: &Story, run_dir: &Path) {
    outln!("\n{story}");
    match rig::report::story_page::write(run_dir, story) {
        Ok(()) => {
            outln!("report: {}  page: {}", run_dir.join("report.json").display(), run_dir.join("index.html").display())
        }
        Err(e) => eprintln!("warning: cannot write the story into {}: {e}", run_dir.display()),
    }
}
