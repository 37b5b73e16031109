//! The bounds of what a case may ask for: counts, sizes and text that would exhaust the host,
//! outgrow what QEMU or a file system takes, or reach a terminal or a command line as
//! something else. Checked when the case loads, so a value out of bounds is bad input with its
//! file, line and column, never an infrastructure failure later.

use super::model::Case;

/// The most iterations a case (or `--iterations`, `--max-iterations`, a budget) may ask for:
/// at a few seconds each, weeks of running; far more than any race needs to be seen.
pub const MAX_ITERATIONS: u32 = 100_000;

/// The most vCPUs a guest may have (QEMU's q35 machine takes 288; KVM hosts fewer).
pub const MAX_VCPUS: u32 = 256;

/// The most guest memory a case may ask for, MiB (1 TiB).
pub const MAX_MEMORY_MIB: u32 = 1024 * 1024;

/// The longest case name, in characters: it names directories and table rows.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks the bounds. Errors are (text to locate, message).
pub fn check(c: &Case) -> Result<(), (String, String)> {
    let err = |needle: &str, msg: String| Err((needle.to_string(), msg));
    let chars = c.name.chars().count();
    if chars > MAX_NAME_CHARS {
        return err("name:", format!("name: {chars} characters; a name may have at most {MAX_NAME_CHARS}"));
    }
    // Shown as Rust escapes, so the message itself carries no control character to a terminal.
    if c.name.chars().any(char::is_control) {
        return err(
            "name:",
            format!("name: {:?} holds a control character; a name is printed and names directories", c.name),
        );
    }
    if c.description.chars().any(|ch| ch.is_control() && ch != '\n' && ch != '\t') {
        return err(
            "description:",
            format!("description: {:?} holds a control character (an escape code?)", c.description),
        );
    }
    if c.iterations > MAX_ITERATIONS {
        return err(
            "iterations:",
            format!("iterations: {} is more than {MAX_ITERATIONS}, the most a case may run", c.iterations),
        );
    }
    let g = &c.guest;
    if g.vcpus > MAX_VCPUS {
        return err("vcpus:", format!("guest.vcpus: {} is more than {MAX_VCPUS}, the most a guest may have", g.vcpus));
    }
    if g.memory_mib > MAX_MEMORY_MIB {
        return err("memory_mib:", format!("guest.memory_mib: {} is more than {MAX_MEMORY_MIB} (1 TiB)", g.memory_mib));
    }
    // One argument each: a newline or another control character would reach QEMU's command
    // line and the kernel's as something else.
    for (i, a) in g.kernel_args.iter().enumerate() {
        if a.chars().any(char::is_control) {
            return err(
                "kernel_args:",
                format!("guest.kernel_args[{i}]: {a:?} holds a control character; give each argument as one item"),
            );
        }
    }
    Ok(())
}
