//! The helpers these suites share: `test_support`, whose `binary("handler")` etc. find this
//! crate's `e2e-*` binaries, and jobctl run as an operator runs it. A file moved here from
//! crates/devhost/tests keeps `mod common;` and its `use common::{...}` line.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
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

/// `jobctl ARGS` with its state in `state` and none of the operator's environment (endpoint,
/// App Insights app, devhost URL); stdin closed, output captured.
pub fn jobctl_command(state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(jobctl_binary());
    c.args(args)
        .env_remove("SERVICEBUS_ENDPOINT")
        .env_remove("APPLICATIONINSIGHTS_APP_ID")
        .env_remove("DEVHOST_URL")
        .env("JOBCTL_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// [`jobctl_command`] against the devhost's Service Bus (`--endpoint <devhost>/servicebus`).
pub fn jobctl_at(d: &Devhost, state: &Path, args: &[&str]) -> Command {
    let endpoint = format!("{}/servicebus", d.url);
    let mut c = jobctl_command(state, &["--endpoint", &endpoint]);
    c.args(args);
    c
}

/// Run `command` to the end (at most two minutes): exit code, stdout, stderr.
pub fn run(mut command: Command) -> (i32, String, String) {
    let out = wait(command.spawn().unwrap(), Duration::from_secs(120));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `jobctl --json ARGS` against the devhost, which must succeed; its answer.
pub fn jobctl_json(d: &Devhost, state: &Path, args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(jobctl_at(d, state, &[&["--json"], args].concat()));
    assert_eq!(code, 0, "jobctl {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Wait for `child` (reading its output all along, so a large answer cannot block it), killing
/// it after `within`.
pub fn wait(child: Child, within: Duration) -> Output {
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid]).status();
            let out = rx.recv().unwrap().unwrap();
            panic!(
                "pid {pid} did not finish within {within:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The `maxConcurrentCalls` the devhost applies to the app at `root`: `host.json`'s
/// `extensions.serviceBus.maxConcurrentCalls`, else the Service Bus extension's default, 16 per
/// processor (SB `ServiceBusOptions.MaxConcurrentCalls`; `WEBSITE_SKU` is not `Dynamic` in these
/// tests; the devhost's `parity_trigger` suite holds it to that default).
pub fn max_concurrent_calls(root: &Path) -> usize {
    let host: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("host.json")).unwrap()).unwrap();
    match host.pointer("/extensions/serviceBus/maxConcurrentCalls") {
        Some(v) => usize::try_from(v.as_u64().unwrap()).unwrap(),
        None => 16 * std::thread::available_parallelism().unwrap().get(),
    }
}
