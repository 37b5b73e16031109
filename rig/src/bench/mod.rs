//! Benchmarks behind `cargo xtask bench`: measured on this machine, in one run, as ratios
//! against a baseline, so the figures mean something on any host.

pub mod boot;
pub mod engine;
pub mod scale;
pub mod stats;
pub mod verdicts;
