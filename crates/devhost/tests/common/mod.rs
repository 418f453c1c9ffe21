//! The helpers these suites share: `test_support`, whose `binary("devhost")` and
//! `binary("testhandler")` find this package's binaries. The devhost's own suites host the
//! `testhandler` fixture or `tests/fixtures/pyhandler`, never the real handler (whose suites
//! through the devhost live in crates/e2e).
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub use test_support::app::set_host_json;
pub use test_support::{
    Devhost, LOCAL_CONNECTION_STRING, add_pyhandler_variant, assert_start_refused, binary,
    devhost_start_fails, edit_host_json, eventually, free_port, pyhandler_root, repo_root,
};
pub use test_support::{Method, counts, strings};

/// A child process killed (and reaped) when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait up to 30 s until `url` answers over HTTP (any status): `what` has started.
pub async fn wait_until_served(url: &str, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reqwest::get(url).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Peek-lock the head of `queue` over the REST subset at `rest` (waiting up to 5 s): the
/// response, asserted `201 Created`, and the locked message's URI (`Location`; DELETE completes).
pub async fn peek_lock(
    http: &reqwest::Client,
    rest: &str,
    queue: &str,
) -> (reqwest::Response, String) {
    let locked = http
        .post(format!("{rest}/{queue}/messages/head?timeout=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 201, "nothing to lock on {queue}");
    let location = locked.headers()["location"].to_str().unwrap().to_owned();
    (locked, location)
}

/// The `testhandler` fixture (crates/testhandler), for behaviours the real handler cannot show.
pub fn testhandler_binary() -> PathBuf {
    binary("testhandler")
}

/// The pyhandler's recorded invocations of `function` so far (`/api/Recorded`).
pub async fn invocations(d: &Devhost, function: &str) -> Vec<Value> {
    let path = format!("/api/Recorded?event=invocation&function={function}");
    let rows = d.get_json(&path).await;
    rows.as_array().cloned().unwrap_or_default()
}

/// [`invocations`] of `function` once there are at least `n` (waiting at most `within`).
pub async fn recorded(d: &Devhost, function: &str, n: usize, within: Duration) -> Vec<Value> {
    let what = format!("fewer than {n} invocations of {function}");
    eventually(within, &what, async || {
        let rows = invocations(d, function).await;
        (rows.len() >= n).then_some(rows)
    })
    .await
}
