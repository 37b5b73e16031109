//! rig: a full-system QEMU/KVM integration test rig for kernel engineers.
//!
//! The library holds everything: the guest images, the QEMU machine and its command line,
//! the QMP, serial and SSH channels, crash reading, and the test engine. The `xtask` binary
//! only parses the command line and calls in here.
//!
//! # Layers
//!
//! Read it top-down. A module imports only from its own layer or the layers below it, never
//! from above, and modules of one layer do not import each other both ways
//! (`rig/tests/layers.rs` checks both on every test run). Each guest OS lives in `guest_os`
//! alone, its crash dialect and the code that builds its images with it: nothing else names
//! an OS.
//!
//! | layer | modules | what they hold |
//! | ----- | ------- | -------------- |
//! | 1 | `engine` | runs test cases on guests: campaigns, workers, steps, the gate of sequential comparisons, bisection |
//! | 2 | `report` `history` | what a run found, written out (`report.json`, JUnit, pages) and kept (SQLite) |
//! | 3 | `results` `reproduce` | what runs found, as data, and the pure judging of it (outcomes, verdicts, comparisons, bisection search); a customer's panic text read, matched to the cases that hunt it, a draft case, the race-window search |
//! | 4 | `case` | the YAML test-case format, checked against the guest OSes it names |
//! | 5 | `dump` `host` `setup` | evidence taken from the host side (dumps, hang evidence); the host's prerequisites, accelerator and KVM probe |
//! | 6 | `guest_os` | everything that differs per guest OS: one folder per OS (Linux, illumos), found by image name, with its images (Linux images built from Debian packages, coal headnodes prepared from the user's tarball) |
//! | 7 | `guest` `profile` `cpu_check` | a running guest (its QEMU, consoles, QMP and SSH as one value), the contract of how to talk to it, and the check of its CPU from inside |
//! | 8 | `qemu` `qmp` `console` `ssh` `usernet` | the channels: the QEMU process, its monitor, its serial consoles, SSH |
//! | 9 | `machine` `identity` | the machine: CPU models, the typed machine spec, its QEMU command line; what a guest says its CPU is |
//! | 10 | `crash` `stats` `journal` `lines` `rundir` `file_kind` | pure pieces: crash reading's shared machinery, statistics, the bounded journal, line splitting, run directories, what a given path is |

pub mod case;
pub mod console;
pub mod cpu_check;
pub mod crash;
pub mod dump;
pub mod engine;
pub mod file_kind;
pub mod guest;
pub mod guest_os;
pub mod history;
pub mod host;
pub mod identity;
pub mod journal;
pub mod lines;
pub mod machine;
pub mod profile;
pub mod qemu;
pub mod qmp;
pub mod report;
pub mod reproduce;
pub mod results;
pub mod rundir;
pub mod setup;
pub mod ssh;
pub mod stats;
pub mod usernet;
