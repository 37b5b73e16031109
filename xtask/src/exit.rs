//! The rig's exit codes, documented in `--help` and the README.

/// Everything went as expected.
pub const OK: i32 = 0;
/// Bad usage or input.
pub const USAGE: i32 = 2;
/// Infrastructure failure: QEMU died, the guest never came up, the host is not usable.
pub const INFRA: i32 = 3;
/// Interrupted (Ctrl-C, SIGTERM or SIGHUP).
pub const INTERRUPTED: i32 = 130;

/// The text for `--help`.
pub const HELP: &str = "Exit codes: 0 all as expected; 1 an expectation failed; 2 bad usage or input; \
3 infrastructure failure (QEMU died, guest never ready, KVM demanded but unusable); 4 nothing ran \
(every case x CPU was skipped); 130 interrupted (Ctrl-C, SIGTERM or SIGHUP). With --bisect: 0 the first bad build found with every probe \
decided, 1 found resting on an inconclusive probe, or no answer (the oldest build reproduces, or the newest does not).";
