//! SmartOS coal as a rig target: the USB image prepared from the user's coal tarball or
//! image (loader.conf, answers.json, the rig's SSH key, optionally a platform), the machine
//! that boots it, setup progress read off the console, and the snapshot plan that makes later
//! runs start from a set-up headnode. Facts from `../shared/docs/smartos-coal.md`.

pub mod age;
pub mod answers;
pub mod bpb;
pub mod clusters;
pub mod compat;
pub mod era;
pub mod fat;
pub mod first_boot;
pub mod gpt;
pub mod image;
pub mod keys;
pub mod loader;
pub mod machine;
pub mod menu_lst;
pub mod parts;
pub mod questions;
pub mod savecore;
pub mod setup;
pub mod setup_fail;
pub mod source;
pub mod stand_in;

pub use image::{CoalImage, Manifest, PrepareOptions, prepare, prepared};
