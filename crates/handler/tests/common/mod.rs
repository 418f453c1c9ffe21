//! The helpers these suites share (`test_support`): the real `handler` binary started on a free
//! loopback port (`binary("handler")` is this package's), and invocations shaped as the host
//! sends them.
#![allow(dead_code, unused_imports)]

pub use test_support::handler::{Handler, command, sigterm, until_ready};
pub use test_support::{
    SAMPLE_JOB, free_port, http_invocation, repo_root, res, res_body, sb_invocation, strings,
};
