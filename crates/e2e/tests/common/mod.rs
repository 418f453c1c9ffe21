//! The helpers these suites share: `test_support`, whose `binary("handler")` etc. find this
//! crate's `e2e-*` binaries. A file moved here from crates/devhost/tests keeps `mod common;` and
//! its `use common::{...}` line.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

pub use test_support::app::set_host_json;
pub use test_support::*;

/// The real handler (`e2e-handler`, what [`script_root`] stages as `handler`).
pub fn handler_binary() -> PathBuf {
    binary("handler")
}

/// The operator CLI (`e2e-jobctl`).
pub fn jobctl_binary() -> PathBuf {
    binary("jobctl")
}

/// The devhost (`e2e-devhost`).
pub fn devhost_binary() -> PathBuf {
    binary("devhost")
}
