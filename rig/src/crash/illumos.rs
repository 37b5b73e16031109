//! The illumos console reader (stub).
use super::report::{CrashKind, CrashReport, Os};
use super::stream::{Dialect, End};
/// The illumos dialect.
pub struct Illumos;
impl Dialect for Illumos {
    fn os(&self) -> Os {
        Os::Illumos
    }
    fn may_start(&self, _raw: &[u8]) -> bool {
        false
    }
    fn start(&self, _line: &str) -> Option<CrashKind> {
        None
    }
    fn end(&self, _line: &str) -> Option<End> {
        None
    }
    fn build(&self, _lines: &[String], _ended: bool) -> CrashReport {
        unimplemented!()
    }
}
