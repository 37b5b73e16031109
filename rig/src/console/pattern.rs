//! What a wait on the console looks for: a literal substring or a regular expression.

use std::fmt;

use regex::Regex;

/// A console pattern. Pure matching, tested without a guest.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// The line contains this text.
    Literal(String),
    /// The line matches this regular expression.
    Regex(Regex),
}

impl Pattern {
    /// A substring pattern.
    pub fn literal(s: impl Into<String>) -> Self {
        Pattern::Literal(s.into())
    }

    /// A regular-expression pattern.
    pub fn regex(re: &str) -> Result<Self, regex::Error> {
        Regex::new(re).map(Pattern::Regex)
    }

    /// If `line` matches, the interesting part: the first capture group when the regex has
    /// one, else the whole match.
    pub fn find(&self, line: &str) -> Option<String> {
        match self {
            Pattern::Literal(s) => line.contains(s.as_str()).then(|| s.clone()),
            Pattern::Regex(re) => {
                let caps = re.captures(line)?;
                let m = caps.get(1).or_else(|| caps.get(0))?;
                Some(m.as_str().to_string())
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Literal(s) => write!(f, "'{s}'"),
            Pattern::Regex(re) => write!(f, "/{}/", re.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_matches_substring() {
        let p = Pattern::literal("login:");
        assert_eq!(p.find("headnode console login: ").as_deref(), Some("login:"));
        assert_eq!(p.find("Login"), None);
    }

    #[test]
    fn regex_returns_first_group() {
        let p = Pattern::regex(r"RIG-READY boot_id=([0-9a-f-]+)").unwrap();
        assert_eq!(p.find("[ 2.6] RIG-READY boot_id=ab-12").as_deref(), Some("ab-12"));
        assert_eq!(p.find("RIG-READY"), None);
        let whole = Pattern::regex(r"panic\[cpu\d+\]").unwrap();
        assert_eq!(whole.find("x panic[cpu3]/thread=").as_deref(), Some("panic[cpu3]"));
    }

    #[test]
    fn display_says_which_kind() {
        assert_eq!(Pattern::literal("a").to_string(), "'a'");
        assert_eq!(Pattern::regex("a+").unwrap().to_string(), "/a+/");
    }
}
