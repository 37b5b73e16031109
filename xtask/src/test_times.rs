//! Where the test suite's time goes: `cargo test`'s output read as it passes through, each
//! test binary's time and counts taken from its `Running` line and its `test result:` line,
//! and a table of them, slowest first, printed when the suite ends.

use std::io::{BufRead, BufReader, Read, Write};

/// One test binary's result.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryTime {
    /// The binary, as cargo names it (`tests/coal_engine.rs`, `src/lib.rs`).
    pub name: String,
    /// Seconds its tests took (cargo's `finished in`).
    pub secs: f64,
    /// Tests passed.
    pub passed: u32,
    /// Tests failed.
    pub failed: u32,
}

/// Reads cargo test's lines: the binary a `Running` line names, then its result line.
#[derive(Debug, Default)]
pub struct Times {
    current: Option<String>,
    /// The binaries seen, in the order they ran.
    pub binaries: Vec<BinaryTime>,
}

impl Times {
    /// Takes one line of cargo test's output.
    pub fn line(&mut self, line: &str) {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("Running ").or_else(|| l.strip_prefix("Doc-tests ")) {
            self.current = Some(rest.split(" (").next().unwrap_or(rest).to_string());
        } else if let Some(rest) = l.strip_prefix("test result: ") {
            let num = |word: &str| -> u32 {
                let words: Vec<&str> = rest.split([' ', ';']).filter(|w| !w.is_empty()).collect();
                words.windows(2).find(|w| w[1] == word).and_then(|w| w[0].parse().ok()).unwrap_or(0)
            };
            let secs =
                rest.rsplit("finished in ").next().and_then(|s| s.trim_end_matches('s').parse().ok()).unwrap_or(0.0);
            let name = self.current.take().unwrap_or_else(|| "(unnamed)".into());
            self.binaries.push(BinaryTime { name, secs, passed: num("passed"), failed: num("failed") });
        }
    }

    /// The table, slowest first.
    pub fn table(&self) -> String {
        let mut b = self.binaries.clone();
        b.sort_by(|x, y| y.secs.total_cmp(&x.secs));
        let width = b.iter().map(|t| t.name.len()).max().unwrap_or(0);
        let mut s = String::from("time per test binary, slowest first:\n");
        for t in &b {
            let failed = if t.failed > 0 { format!(", {} FAILED", t.failed) } else { String::new() };
            s.push_str(&format!("  {:<width$}  {:>8.1} s  {} passed{failed}\n", t.name, t.secs, t.passed));
        }
        let total: f64 = b.iter().map(|t| t.secs).sum();
        s.push_str(&format!("  {:<width$}  {:>8.1} s in tests\n", "(all)", total));
        s
    }
}

/// Copies `from` to `to` line by line (bytes as they are), feeding each line to `times`.
pub fn pass_through(from: impl Read, mut to: impl Write, times: &mut Times) -> std::io::Result<()> {
    let mut r = BufReader::new(from);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        to.write_all(&buf)?;
        to.flush()?;
        times.line(&String::from_utf8_lossy(&buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_timed_from_cargos_lines() {
        let out = "   Compiling rig v0.1.0\n     Running unittests src/lib.rs (target/debug/deps/rig-0f)\n\
                   test result: ok. 260 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.11s\n\n\
                   \x20    Running tests/coal_engine.rs (target/debug/deps/coal_engine-1a)\n\
                   test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1008.20s\n\
                   \x20  Doc-tests rig\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        let mut t = Times::default();
        let mut copy = Vec::new();
        pass_through(out.as_bytes(), &mut copy, &mut t).unwrap();
        assert_eq!(copy, out.as_bytes());
        assert_eq!(t.binaries.len(), 3);
        assert_eq!(
            t.binaries[1],
            BinaryTime { name: "tests/coal_engine.rs".into(), secs: 1008.2, passed: 2, failed: 1 }
        );
        let table = t.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].contains("tests/coal_engine.rs") && lines[1].contains("1008.2 s  2 passed, 1 FAILED"),
            "{table}"
        );
        assert!(lines[2].contains("unittests src/lib.rs") && lines[2].contains("260 passed"), "{table}");
        assert!(lines[4].contains("(all)") && lines[4].contains("1011.3 s"), "{table}");
        assert!(!table.lines().any(|l| l.starts_with("test result:")), "CI sums those lines: {table}");
    }
}
