//! `devhost servicebus`: the local Service Bus alone (no function app), as `func start` and users'
//! own clients use it: Microsoft's Python SDK over AMQP and the REST subset see one store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{KillOnDrop, free_port, wait_until_served};
use test_support::sdk;

struct Local {
    child: KillOnDrop,
    rest: String,
    amqp_port: u16,
}

async fn start(data: &Path, queues: &[&str]) -> Local {
    start_with(data, queues, &[]).await
}

/// [`start`] with more flags.
async fn start_with(data: &Path, queues: &[&str], extra: &[&str]) -> Local {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (port, amqp_port) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_devhost"));
    cmd.args(["servicebus", "--port", &port.to_string()])
        .args(["--amqp-port", &amqp_port.to_string()])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for q in queues {
        cmd.args(["--queue", q]);
    }
    cmd.args(extra);
    let local = Local {
        child: KillOnDrop(cmd.spawn().unwrap()),
        rest: format!("http://127.0.0.1:{port}/servicebus"),
        amqp_port,
    };
    let url = format!("{}/{}", local.rest, queues[0]);
    wait_until_served(&url, "devhost servicebus").await;
    local
}

/// `tests/amqp/interop.py` against `queue`: (success, stdout, stderr).
async fn sdk(local: &Local, queue: &str, args: &[&str]) -> (bool, String, String) {
    sdk_as(&sdk::connection_string(local.amqp_port), queue, args).await
}

/// [`sdk`] with another connection string.
async fn sdk_as(connection: &str, queue: &str, args: &[&str]) -> (bool, String, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/amqp/interop.py");
    let out = tokio::process::Command::new(sdk::python())
        .arg(script)
        .args(args)
        .env("SB_CONNECTION_STRING", connection)
        .env("SB_QUEUE", queue)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn sdk_and_rest_share_the_queues_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let local = start(&dir.path().join("data"), &["jobs", "audit"]).await;
    let http = reqwest::Client::new();

    // SDK -> REST.
    let (ok, out, err) = sdk(
        &local,
        "audit",
        &[
            "send",
            "from-sdk",
            "m-1",
            "text/plain",
            "c-1",
            r#"{"who":"python"}"#,
        ],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    let (locked, location) = common::peek_lock(&http, &local.rest, "audit").await;
    assert_eq!(locked.headers()["who"], "\"python\"");
    let props: serde_json::Value =
        serde_json::from_str(locked.headers()["brokerproperties"].to_str().unwrap()).unwrap();
    assert_eq!(props["MessageId"], "m-1");
    assert_eq!(locked.text().await.unwrap(), "from-sdk");
    assert_eq!(http.delete(location).send().await.unwrap().status(), 200);

    // REST -> SDK.
    let sent = http
        .post(format!("{}/jobs/messages", local.rest))
        .header("content-type", "application/json")
        .header("BrokerProperties", r#"{"MessageId":"r-1"}"#)
        .body(r#"{"from":"rest"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let (ok, out, err) = sdk(&local, "jobs", &["receive"]).await;
    assert!(ok, "{out}\n{err}");
    let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (got["messageId"].as_str(), got["deliveryCount"].as_u64()),
        (Some("r-1"), Some(0))
    );

    // A queue it does not serve is not found, as in a namespace without it.
    let (ok, _, err) = sdk(
        &local,
        "nosuch",
        &["send", "x", "m", "text/plain", "c", "{}"],
    )
    .await;
    assert!(!ok && err.contains("MessagingEntityNotFound"), "{err}");
}

#[tokio::test]
async fn stops_cleanly_on_sigterm_and_keeps_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut local = start(&data, &["jobs"]).await;
    let (ok, out, err) = sdk(
        &local,
        "jobs",
        &["send", "kept", "k-1", "text/plain", "c", "{}"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    Command::new("kill")
        .args(["-TERM", &local.child.0.id().to_string()])
        .status()
        .unwrap();
    let status = local.child.0.wait().unwrap();
    assert!(status.success(), "{status}");

    let local = start(&data, &["jobs"]).await;
    let (ok, out, err) = sdk(&local, "jobs", &["receive"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("\"kept\""), "{out}");
}

#[tokio::test]
async fn a_sas_rule_gets_only_its_rights() {
    let dir = tempfile::tempdir().unwrap();
    let local = start_with(
        &dir.path().join("data"),
        &["jobs"],
        &["--sas-rule", "ingest:Send:c2VuZA=="],
    )
    .await;
    let sender = sdk::connection_string(local.amqp_port).replace(
        "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE",
        "SharedAccessKeyName=ingest;SharedAccessKey=c2VuZA==",
    );
    let send = ["send", "least", "l-1", "text/plain", "c", "{}"];
    let (ok, out, err) = sdk_as(&sender, "jobs", &send).await;
    assert!(ok, "a Send rule must send: {out}\n{err}");
    let (ok, _, err) = sdk_as(&sender, "jobs", &["receive"]).await;
    assert!(
        !ok && err.contains("'Listen' claim(s) are required"),
        "a Send rule must not receive: {err}"
    );
    let (ok, out, err) = sdk(&local, "jobs", &["receive"]).await;
    assert!(ok && out.contains("\"least\""), "{out}\n{err}");
}

#[test]
fn a_malformed_sas_rule_is_refused_naming_the_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_devhost"))
        .args(["servicebus", "--queue", "jobs", "--sas-rule", "x:Write:k"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sas-rule") && err.contains("unknown right 'Write'"),
        "{err}"
    );
}

#[test]
fn without_a_queue_it_refuses_to_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_devhost"))
        .args(["servicebus", "--amqp-port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--queue <NAME>"), "{err}");
}
