//! The README stays true: every `cargo xtask ...` command its code blocks show is taken by the
//! real command line (run with `--help` appended: clap reads every flag and subcommand before
//! it, so an unknown one, or a value outside a fixed set, fails here as it would for a reader).

use std::process::Command;

/// The `cargo xtask` command lines of the README's code blocks (indented by four spaces), a
/// line continued with `\` joined to the next; each with its README line number.
fn readme_commands(readme: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if !line.starts_with("    ") {
            continue;
        }
        let Some(at) = line.find("cargo xtask ") else { continue };
        let mut command = line[at..].to_string();
        while command.trim_end().ends_with('\\') {
            command = command.trim_end().trim_end_matches('\\').to_string();
            match lines.next() {
                Some((_, next)) => command.push_str(next),
                None => break,
            }
        }
        out.push((n + 1, command));
    }
    out
}

/// The arguments after `cargo xtask`, split as a shell would (quotes), up to a comment or
/// the end of the command (`|`, `&&`, `;`, `>`).
fn arguments(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command["cargo xtask ".len()..].chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '#' | '|' | '&' | ';' | '>') if word.is_none() => break,
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn every_command_the_readme_shows_is_accepted() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let commands = readme_commands(&readme);
    assert!(commands.len() >= 20, "only {} commands found in the README's code blocks", commands.len());
    let mut refused = Vec::new();
    for (line, command) in &commands {
        let args = arguments(command);
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&args)
            .arg("--help")
            // Nothing a command does may touch the workspace's history or runs.
            .env("RIG_BUILD_DIR", std::env::temp_dir().join(format!("rig-readme-{}", std::process::id())))
            .output()
            .expect("starting the rig");
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            refused.push(format!("README.md:{line}: {command}\n  {}", why.lines().next().unwrap_or("")));
        }
    }
    assert!(refused.is_empty(), "commands the README shows are refused:\n{}", refused.join("\n"));
}

#[test]
fn commands_are_split_as_a_shell_would() {
    let readme = "text\n\n    $ cargo xtask rig --case a \\\n      --until-panic 'kernel BUG' # why\n    cargo xtask triage x | head\n";
    let c = readme_commands(readme);
    assert_eq!(c.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [3, 5]);
    assert_eq!(arguments(&c[0].1), ["rig", "--case", "a", "--until-panic", "kernel BUG"]);
    assert_eq!(arguments(&c[1].1), ["triage", "x"]);
}
