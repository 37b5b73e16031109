//! The host's memory, for the parallel-guest budget: how many guests fit.

/// What QEMU itself needs beside the guest's RAM (translation caches, device state), MiB.
pub const QEMU_OVERHEAD_MIB: u64 = 300;

/// `MemAvailable` from `/proc/meminfo`, in MiB.
pub fn available_mib() -> Option<u64> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemTotal` from `/proc/meminfo`, in MiB: no guest larger than this can ever start here.
pub fn total_mib() -> Option<u64> {
    meminfo_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")
}

/// Reads `MemAvailable` (kB) from meminfo text, in MiB. Pure.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    meminfo_field(text, "MemAvailable:")
}

/// Reads the field (`MemTotal:`, in kB) from meminfo text, in MiB. Pure.
fn meminfo_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
}

/// How many guests of `guest_mib` fit in `budget_mib`. Pure.
pub fn guests_that_fit(budget_mib: u64, guest_mib: u32) -> u64 {
    budget_mib / (u64::from(guest_mib) + QEMU_OVERHEAD_MIB)
}

/// The default number of parallel guests: one per core, as many as fit in 80% of the
/// available memory, at least one.
pub fn default_jobs(guest_mib: u32) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    let fit = available_mib().map(|m| guests_that_fit(m * 4 / 5, guest_mib)).unwrap_or(1);
    cores.min(fit).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo() {
        let t = "MemTotal:       24592728 kB\nMemFree:        22000000 kB\nMemAvailable:   23068672 kB\n";
        assert_eq!(parse_meminfo(t), Some(22528));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        assert_eq!(meminfo_field(t, "MemTotal:"), Some(24016));
    }

    #[test]
    fn fits() {
        assert_eq!(guests_that_fit(8192, 512), 10);
        assert_eq!(guests_that_fit(700, 512), 0);
        assert!(default_jobs(512) >= 1);
    }
}
