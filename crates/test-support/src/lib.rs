//! What the workspace's tests share, so that each suite says only what it tests:
//!
//! * [`free_port`], [`repo_root`] and [`binary`] (the executables Cargo built for the test);
//! * [`samples`]: the README's sample job, one per job type version, an envelope;
//! * [`invocation`]: invocation bodies exactly as the Functions host sends them, and readers of
//!   the answer;
//! * [`app`]: script roots staged like `cargo xtask stage --local` (the real handler) or from
//!   `tests/fixtures/pyhandler`, and edits of their files;
//! * [`devhost`] and [`handler`]: the real binaries started on a free loopback port, waited for
//!   until ready, and killed on drop;
//! * [`staged`]: the app staged in a temporary folder with its devhost started, as the
//!   whole-pipeline tests begin;
//! * [`counts`]: queue counters read in one go;
//! * [`markdown_table`]: the rows of a table in the docs, for tests that hold code and docs together.
//!
//! Tests only: every helper panics on failure (a test failure names what went wrong).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod devhost;
pub mod handler;
pub mod invocation;
pub mod samples;
pub mod sdk;
pub mod staged;

use std::net::TcpListener;
use std::path::PathBuf;

pub use app::{
    LOCAL_CONNECTION_STRING, add_pyhandler_variant, edit_host_json, pyhandler_root, script_root,
    write_settings,
};
pub use devhost::{Devhost, assert_start_refused, devhost_start_fails};
pub use handler::Handler;
pub use invocation::{http_invocation, ingest_invocation, res, res_body, sb_invocation};
pub use reqwest::Method;
pub use samples::{SAMPLE_JOB, SAMPLE_JOBS, sample_envelope};
pub use staged::{App, LoadRun, load_run, start_app, submit_many};

/// A loopback port that was free a moment ago (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The workspace root (where `host.json`, `functions/`, `job-types/` and `tests/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The executable `name` (`devhost`, `handler`, `jobctl`, `testhandler`) that Cargo built for the
/// running integration test: the test's own package's binary of that name, or the `e2e-<name>`
/// one of crates/e2e (thin copies of the real binaries, since Cargo builds binaries only for the
/// package under test). Cargo passes each as `CARGO_BIN_EXE_<bin>` to the test process.
pub fn binary(name: &str) -> PathBuf {
    for var in [
        format!("CARGO_BIN_EXE_{name}"),
        format!("CARGO_BIN_EXE_e2e-{name}"),
    ] {
        if let Some(path) = std::env::var_os(&var) {
            return path.into();
        }
    }
    panic!(
        "no `{name}` binary for this test (neither CARGO_BIN_EXE_{name} nor CARGO_BIN_EXE_e2e-{name} \
         is set): run it with `cargo test`, from a package that has that binary (tests of the real \
         handler and jobctl live in crates/e2e)"
    )
}

/// The counters `keys` of an `/admin/queues` row (or any JSON object of counts), in that order; a
/// missing or non-numeric one panics naming it.
pub fn counts<const N: usize>(row: &serde_json::Value, keys: [&str; N]) -> [u64; N] {
    keys.map(|k| {
        row[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {k:?} in {row}"))
    })
}

/// The string `key` of every object in the JSON array `items` (a missing one panics).
pub fn strings<'a>(items: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    let items = items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"));
    items
        .iter()
        .map(|item| {
            item[key]
                .as_str()
                .unwrap_or_else(|| panic!("no string {key:?} in {item}"))
        })
        .collect()
}

/// Ask `probe` every 100 ms until it answers `Some`, for at most `within` (then panic naming
/// `what`); that answer.
pub async fn eventually<T>(
    within: std::time::Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The body rows of the first Markdown table after `section` in `doc` whose header row starts
/// with `header`: each row's cells, split at ` | `, without the outer pipes. Panics when `doc`
/// has no `section`.
pub fn markdown_table<'a>(doc: &'a str, section: &str, header: &str) -> Vec<Vec<&'a str>> {
    let (_, after) = doc
        .split_once(section)
        .unwrap_or_else(|| panic!("the document has no {section:?}"));
    after
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let inner = row.trim_start_matches("| ").trim_end_matches(" |");
            inner.split(" | ").collect()
        })
        .collect()
}
