//! A series of one guest OS's images whose first bad build is known: a fixture for the
//! bisection's own tests and benchmark (the OS-7410 series), asked of the registry.

/// An ordered history of builds with a known first bad one.
#[derive(Debug, Clone, Copy)]
pub struct KnownBisection {
    /// The images, oldest first.
    pub builds: &'static [&'static str],
    /// The build that introduced the bug: it and every later one are bad, every earlier one good.
    pub first_bad: &'static str,
    /// The case that tells good from bad, and the panic it hunts on a bad build.
    pub case: &'static str,
}

impl KnownBisection {
    /// Whether `image` is a bad build of the series (`None`: not one of its builds).
    pub fn is_bad(&self, image: &str) -> Option<bool> {
        let at = self.builds.iter().position(|b| *b == image)?;
        let first_bad = self.builds.iter().position(|b| *b == self.first_bad)?;
        Some(at >= first_bad)
    }
}
