//! The race engine: runs a test case's steps on guests, iteration after iteration, turns
//! what happens into outcomes and verdicts, and keeps the evidence.

pub mod bisect;
pub mod campaign;
pub mod ctx;
pub mod gate;
pub mod iteration;
pub mod plan;
pub mod preflight;
pub mod qemu_exit;
pub mod reloads;
pub mod session;
pub mod shared;
pub mod shell;
pub mod skip;
pub mod steps;
pub mod watch;
pub mod worker;
