//! From a customer's panic text to a reproduction, the pure half: read the text as `triage`
//! does and take its signature (`reading`), find and rank the cases that hunt it (`matching`),
//! draft a case from the stack when none does (`draft`), and search a case's explorable
//! timings for the race window (`window`) and narrow it level by level (`narrowing`); judge what a run of the chosen case found (`verdict`). Nothing here starts a guest.

pub mod draft;
pub mod matching;
pub mod narrowing;
pub mod reading;
pub mod story;
pub mod verdict;
pub mod window;

pub use draft::{Draft, draft, image_for};
pub use matching::{CaseMatch, Strength, match_cases};
pub use reading::{ReadError, Reading, Sureness, read, read_from};
pub use verdict::{Answer, judge};
