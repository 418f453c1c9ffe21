//! The helpers these suites share: `test_support`, whose `binary("devhost")` and
//! `binary("testhandler")` find this package's binaries. The devhost's own suites host the
//! `testhandler` fixture or `tests/fixtures/pyhandler`, never the real handler (whose suites
//! through the devhost live in crates/e2e).
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

pub use test_support::app::set_host_json;
pub use test_support::{
    Devhost, LOCAL_CONNECTION_STRING, add_pyhandler_variant, assert_start_refused, binary,
    devhost_start_fails, edit_host_json, free_port, pyhandler_root, repo_root,
};

/// The `testhandler` fixture (crates/testhandler), for behaviours the real handler cannot show.
pub fn testhandler_binary() -> PathBuf {
    binary("testhandler")
}
