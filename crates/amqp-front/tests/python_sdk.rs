//! Microsoft's Python Service Bus SDK (azure-servicebus 7.15.0, unmodified) drives the AMQP
//! front end over loopback: each test starts a server with a fresh queue and runs one scenario
//! of `tests/amqp/python_sdk.py`.
//!
//! The SDK comes from `SB_PYTHON` (a Python with azure-servicebus installed), by default the
//! virtual environment `.ci/run` creates, `~/.cache/resilient-jobs/venv-sdk`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amqp_front::memory::MemoryBackend;
use amqp_front::{Config, QueueProperties, SasKey, Server, connection_string};
use tokio::net::TcpListener;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SB_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").expect("HOME");
    let p = PathBuf::from(home).join(".cache/resilient-jobs/venv-sdk/bin/python");
    assert!(
        p.exists(),
        "the Python Service Bus SDK is not installed: run `python3 -m venv ~/.cache/resilient-jobs/venv-sdk && \
         ~/.cache/resilient-jobs/venv-sdk/bin/pip install azure-servicebus==7.15.0` (as .ci/run does) or set SB_PYTHON"
    );
    p
}

pub fn queue(name: &str) -> QueueProperties {
    QueueProperties {
        name: name.to_owned(),
        lock_duration: Duration::from_secs(30),
        max_delivery_count: 10,
        default_message_time_to_live: Duration::from_secs(3600),
        dead_lettering_on_message_expiration: false,
        requires_session: false,
        max_message_size_kb: 256,
    }
}

async fn scenario(name: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let backend = Arc::new(MemoryBackend::new());
    backend.add_queue(queue("jobs"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        sas: SasKey {
            name: "RootManageSharedAccessKey".into(),
            key: "SAS_KEY_VALUE".into(),
        },
        container_id: "amqp-front-test".into(),
    };
    let conn = connection_string(listener.local_addr().unwrap(), &config);
    let server = Server::start(listener, backend, config).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/amqp/python_sdk.py");
    let run = tokio::process::Command::new(python())
        .arg(&script)
        .arg(name)
        .env("SB_CONNECTION_STRING", &conn)
        .env("SB_QUEUE", "jobs")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("scenario timed out")
        .unwrap();
    server.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scenario {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(&format!("scenario held: {name}")),
        "{stdout}"
    );
}

#[tokio::test]
async fn send_receive_complete() {
    scenario("send_receive_complete").await;
}

#[tokio::test]
async fn batch_and_list_sends() {
    scenario("batch").await;
}

#[tokio::test]
async fn abandon_redelivers_with_delivery_count_plus_one() {
    scenario("abandon").await;
}

#[tokio::test]
async fn dead_letter_with_reason_reaches_the_subqueue() {
    scenario("dead_letter").await;
}

#[tokio::test]
async fn wrong_key_is_refused() {
    scenario("wrong_key").await;
}

#[tokio::test]
async fn unknown_queue_is_not_found() {
    scenario("unknown_queue").await;
}

#[tokio::test]
async fn oversize_message_is_refused() {
    scenario("oversize").await;
}

#[tokio::test]
async fn peek_renew_lock_defer_and_receive_deferred() {
    scenario("peek_renew_defer").await;
}

#[tokio::test]
async fn schedule_and_cancel() {
    scenario("schedule_cancel").await;
}

#[tokio::test]
async fn receive_and_delete() {
    scenario("receive_and_delete").await;
}
