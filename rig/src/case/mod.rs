//! Test cases: the YAML format (`model`, `step`) and loading with located errors (`load`).

pub mod kinds;
pub mod limits;
pub mod load;
pub mod model;
pub mod step;

pub use kinds::{Kind, Runs};
pub use load::{CaseError, LoadedCase, find, list, load, parse};
pub use model::{Case, ExpectOutcome, Explore, HangMeaning, Jitter, RebootVia, VendorReq};
pub use step::{Step, StepKind};
