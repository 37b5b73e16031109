//! How QEMU ended, as a value: its exit code, the signal that killed it, or only that it is
//! gone. Rendered as text (`exit status 0`, `killed by signal 9`) only where it is printed.

use std::fmt;

/// How the QEMU process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuExit {
    /// It exited with this code.
    Code(i32),
    /// This signal killed it.
    Signal(i32),
    /// It is gone, but its status was already collected elsewhere.
    Gone,
}

impl QemuExit {
    /// Whether QEMU exited by itself with status 0 (a `quit`, or the guest powered off).
    pub fn clean(self) -> bool {
        self == QemuExit::Code(0)
    }
}

impl From<std::process::ExitStatus> for QemuExit {
    fn from(s: std::process::ExitStatus) -> QemuExit {
        use std::os::unix::process::ExitStatusExt;
        match (s.code(), s.signal()) {
            (Some(code), _) => QemuExit::Code(code),
            (None, Some(sig)) => QemuExit::Signal(sig),
            (None, None) => QemuExit::Gone,
        }
    }
}

impl fmt::Display for QemuExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuExit::Code(code) => write!(f, "exit status {code}"),
            QemuExit::Signal(sig) => write!(f, "killed by signal {sig}"),
            QemuExit::Gone => f.write_str("exited"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn only_status_zero_is_clean_and_each_reads_as_before() {
        assert!(QemuExit::Code(0).clean());
        assert!(!QemuExit::Code(1).clean() && !QemuExit::Signal(9).clean() && !QemuExit::Gone.clean());
        assert_eq!(QemuExit::Code(0).to_string(), "exit status 0");
        assert_eq!(QemuExit::Signal(9).to_string(), "killed by signal 9");
        assert_eq!(QemuExit::Gone.to_string(), "exited");
        // A wait status: exit code in the high byte, a signal in the low bits.
        assert_eq!(QemuExit::from(std::process::ExitStatus::from_raw(3 << 8)), QemuExit::Code(3));
        assert_eq!(QemuExit::from(std::process::ExitStatus::from_raw(9)), QemuExit::Signal(9));
    }
}
