//! `cargo xtask completions SHELL`: a completion script for `cargo xtask`. Cargo's own
//! completion knows nothing of an alias's arguments, so the script completes the binary's
//! command line (clap_complete's) and hooks it under the `cargo` word `xtask`: bash and zsh
//! (through `bashcompinit`) register a `cargo` completion that hands `cargo xtask ...` to the
//! rig's and anything else to the `cargo` completion found before; fish adds conditions on
//! `cargo xtask` to cargo's completions.

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;

use crate::exit;

/// The shells a script is written for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ShellArg {
    /// Bash: `source <(cargo xtask completions bash)`.
    Bash,
    /// Zsh, through its bash completion emulation: `source <(cargo xtask completions zsh)`.
    Zsh,
    /// Fish: `cargo xtask completions fish | source`.
    Fish,
}

/// Arguments of `cargo xtask completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: ShellArg,
}

/// The bash function clap_complete writes for the binary `xtask`.
const FUNCTION: &str = "_xtask";

/// Hands `cargo xtask ...` to [`FUNCTION`] (as if the binary were typed, without `cargo`), and
/// any other `cargo` command line to the completion `cargo` had before (loaded now if
/// bash-completion loads it on demand).
const BASH_HOOK: &str = r#"
if ! complete -p cargo >/dev/null 2>&1 && declare -F _completion_loader >/dev/null; then
    _completion_loader cargo >/dev/null 2>&1
fi
_rig_cargo_before=$(complete -p cargo 2>/dev/null | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ "$_rig_cargo_before" = _rig_cargo ] && _rig_cargo_before=
_rig_cargo() {
    if [ "${COMP_WORDS[1]}" = xtask ] && [ "$COMP_CWORD" -ge 2 ]; then
        COMP_WORDS=("${COMP_WORDS[@]:1}")
        COMP_CWORD=$((COMP_CWORD - 1))
        _xtask xtask "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    elif [ -n "$_rig_cargo_before" ]; then
        "$_rig_cargo_before" "$@"
    fi
}
complete -F _rig_cargo -o bashdefault -o default cargo
"#;

/// Prints the script for the shell.
pub fn run(a: &CompletionsArgs, mut cli: clap::Command) -> Result<i32> {
    outln!("{}", script(a.shell, &mut cli));
    Ok(exit::OK)
}

/// The completion script for `shell`.
pub fn script(shell: ShellArg, cli: &mut clap::Command) -> String {
    let generated = |s: Shell, cli: &mut clap::Command| {
        let mut buf = Vec::new();
        clap_complete::generate(s, cli, "xtask", &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    };
    match shell {
        ShellArg::Bash => {
            let body = generated(Shell::Bash, cli);
            // The binary's own registration is left out: there is no `xtask` command to complete.
            let body: String = body.lines().filter(|l| !l.starts_with("complete ")).map(|l| format!("{l}\n")).collect();
            debug_assert!(body.contains(&format!("{FUNCTION}()")));
            format!("# cargo xtask completions (bash)\n{body}{BASH_HOOK}")
        }
        ShellArg::Zsh => format!(
            "# cargo xtask completions (zsh, through bashcompinit)\nautoload -U +X bashcompinit && bashcompinit\n{}",
            script(ShellArg::Bash, cli)
        ),
        ShellArg::Fish => fish(&generated(Shell::Fish, cli)),
    }
}

/// clap_complete's fish script for `xtask`, made to complete `cargo xtask`: its completions
/// are added to `cargo`'s, each only once `xtask` follows `cargo`, and its helpers read the
/// command line without `cargo`.
fn fish(generated: &str) -> String {
    let mut s = String::from("# cargo xtask completions (fish)\n");
    for line in generated.lines() {
        let line = line.replace("(commandline -opc)", "(commandline -opc)[2..-1]");
        match line.strip_prefix("complete -c xtask ") {
            Some(rest) => {
                s += &format!("complete -c cargo -n \"__rig_is_xtask\" {rest}\n");
            }
            None => s += &format!("{line}\n"),
        }
    }
    s + "function __rig_is_xtask\n\tset -l words (commandline -opc)\n\ttest (count $words) -ge 2; and test \"$words[2]\" = xtask\nend\n"
}
