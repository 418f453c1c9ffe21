//! The devhost's AMQP listener: a job envelope Microsoft's Python Service Bus SDK sends to `jobs`
//! is processed by the app's ProcessJob, as it would be from a real namespace.
//!
//! The SDK comes from `SB_PYTHON`, by default the virtual environment `.ci/run` creates
//! (`~/.cache/resilient-jobs/venv-sdk`, azure-servicebus 7.15.0).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{repo_root, sample_envelope, start_app};
use test_support::sdk;

#[tokio::test]
async fn a_job_sent_by_the_python_sdk_over_amqp_is_processed() {
    let (_app, devhost) = start_app(5, &[("CHAOS_FAILURE_RATE", "0")]).await;
    let envelope = sample_envelope("01938f3e-7c1a-7000-8000-000000000001", "amqp-test");
    let conn = sdk::connection_string(devhost.amqp_port);
    let script = repo_root().join("tests/amqp/interop.py");
    let out = tokio::process::Command::new(sdk::python())
        .arg(script)
        .args([
            "send",
            &envelope.to_string(),
            "amqp-job-1",
            "application/json",
            "amqp-test",
            "{}",
        ])
        .env("SB_CONNECTION_STRING", &conn)
        .env("SB_QUEUE", "jobs")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let q = devhost.drained(1, Duration::from_secs(60)).await;
    assert_eq!(
        (q["completed"].as_u64(), q["deadLettered"].as_u64()),
        (Some(1), Some(0)),
        "{q}"
    );
}
