//! The administration API of `devhost servicebus` (HTTPS on the AMQP port), driven by the
//! unmodified `ServiceBusAdministrationClient`s of Microsoft's Python SDK
//! (`tests/amqp/admin_python.py`) and JavaScript SDK (`tests/amqp/admin_js.cjs`), trusting the
//! certificate authority the devhost writes to `<data-dir>/admin-tls/admin-cert.pem`; plus what
//! the SDKs cannot see: the REST subset enforcing a created queue's message size, and a
//! created queue surviving a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Devhost, KillOnDrop, free_port, pyhandler_root, repo_root, wait_until_served};
use test_support::sdk;

/// The queue the devhost declares.
const DECLARED: &str = "jobs";

struct Local {
    /// Held for its drop: the devhost stops with the test.
    _child: KillOnDrop,
    rest: String,
    amqp_port: u16,
    ca: PathBuf,
}

async fn start(data: &Path) -> Local {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (port, amqp_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_devhost"))
        .args(["servicebus", "--port", &port.to_string()])
        .args(["--amqp-port", &amqp_port.to_string(), "--queue", DECLARED])
        // A rule without Manage, for `wrong_key`: administration needs Manage.
        .args(["--sas-rule", "worker:Send,Listen:worker-key"])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let local = Local {
        _child: KillOnDrop(child),
        rest: format!("http://127.0.0.1:{port}/servicebus"),
        amqp_port,
        ca: data.join("admin-tls/admin-cert.pem"),
    };
    let url = format!("{}/{DECLARED}", local.rest);
    wait_until_served(&url, "devhost servicebus").await;
    assert!(local.ca.exists(), "no {}", local.ca.display());
    local
}

fn node_modules() -> PathBuf {
    std::env::var_os("SB_NODE_MODULES").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/resilient-jobs/node-sdk/node_modules")
        },
        PathBuf::from,
    )
}

/// Run one scenario of the Python or the JavaScript suite against `local`.
async fn scenario(local: &Local, js: bool, name: &str) {
    scenario_at(local.amqp_port, &local.ca, DECLARED, js, name).await;
}

/// Run one scenario against the AMQP port `amqp_port`, trusting `ca`, with `queue` declared.
async fn scenario_at(amqp_port: u16, ca: &Path, queue: &str, js: bool, name: &str) {
    let dir = repo_root().join("tests/amqp");
    let mut cmd = if js {
        let mut c = tokio::process::Command::new("node");
        c.arg(dir.join("admin_js.cjs"))
            .env("NODE_PATH", node_modules())
            .env("NODE_EXTRA_CA_CERTS", ca);
        c
    } else {
        let mut c = tokio::process::Command::new(sdk::python());
        c.arg(dir.join("admin_python.py"))
            .env("REQUESTS_CA_BUNDLE", ca);
        c
    };
    cmd.arg(name)
        .env("SB_CONNECTION_STRING", sdk::connection_string(amqp_port))
        .env("SB_QUEUE", queue)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("scenario timed out")
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains(&format!("scenario held: {name}")),
        "{} scenario {name} failed ({}):\n{stdout}\n{stderr}",
        if js { "JavaScript" } else { "Python" },
        out.status
    );
}

async fn run(js: bool, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let local = start(&dir.path().join("data")).await;
    scenario(&local, js, name).await;
}

/// One test per (SDK, scenario): `name => (js, "scenario")`.
macro_rules! admin_scenarios {
    ($($name:ident => ($js:expr, $scenario:literal)),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                run($js, $scenario).await;
            }
        )*
    };
}

admin_scenarios! {
    python_create_get_send_runtime_update_list_delete => (false, "lifecycle"),
    python_conflicts_and_declared_queues => (false, "conflict"),
    python_wrong_key_is_unauthorized => (false, "wrong_key"),
    python_unsupported_properties_are_refused_by_name => (false, "unsupported"),
    js_create_get_send_runtime_update_list_delete => (true, "lifecycle"),
    js_conflicts_and_declared_queues => (true, "conflict"),
    js_wrong_key_is_unauthorized => (true, "wrong_key"),
    js_unsupported_properties_are_refused_by_name => (true, "unsupported"),
}

/// A created queue, its properties and its messages survive a restart, and the REST subset
/// holds a created queue to its own `MaxMessageSizeInKilobytes` (1024 KB) where the declared queue keeps
/// Standard's 256 KB.
#[tokio::test]
async fn a_created_queue_is_durable_and_rest_enforces_its_message_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let local = start(&data).await;
    scenario(&local, false, "durable_create").await;
    let http = reqwest::Client::new();
    let big = "x".repeat(300 * 1024);
    let send = |queue: &str| {
        http.post(format!("{}/{queue}/messages", local.rest))
            .header("content-type", "text/plain")
            .body(big.clone())
            .send()
    };
    assert_eq!(send("sized").await.unwrap().status(), 201);
    assert_eq!(send(DECLARED).await.unwrap().status(), 413);
    let (locked, location) = common::peek_lock(&http, &local.rest, "sized").await;
    assert_eq!(locked.text().await.unwrap().len(), big.len());
    assert_eq!(http.delete(location).send().await.unwrap().status(), 200);
    drop(local);

    let local = start(&data).await;
    scenario(&local, false, "durable_check").await;
}

/// `devhost start` serves the same API on its AMQP port; a queue a function binding names
/// (`pyh-out`, the pyhandler's `Send` output) is declared: shown, never updated or deleted.
#[tokio::test]
async fn devhost_start_serves_it_and_keeps_the_queues_its_bindings_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[("AzureWebJobs.Receive.Disabled", "true")]);
    let data = dir.path().join("data");
    let devhost = Devhost::start_with(&root, &data, free_port(), &[]).await;
    let ca = data.join("admin-tls/admin-cert.pem");
    scenario_at(devhost.amqp_port, &ca, "pyh-out", false, "conflict").await;
    scenario_at(devhost.amqp_port, &ca, "pyh-out", true, "conflict").await;
}
