//! Process behaviour: start-up validation and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Handler, command, free_port, sb_invocation};

fn run_to_exit(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let (mut cmd, _) = command(env);
    let out = cmd.output().expect("handler runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_setting_stops_start_up_naming_it() {
    for (name, value) in [
        ("CHAOS_FAILURE_RATE", "1.2"),
        ("PROCESSING_DELAY_MS", "soon"),
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "99999"),
        ("LOG_FORMAT", "yaml"),
    ] {
        let (code, stderr) = run_to_exit(&[(name, value)]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(value),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_missing_port_is_explained() {
    let (mut cmd, _) = command(&[]);
    cmd.env_remove("FUNCTIONS_CUSTOMHANDLER_PORT");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FUNCTIONS_CUSTOMHANDLER_PORT is not set")
    );
}

#[test]
fn a_broken_job_type_folder_stops_start_up_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("jobtypes-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("report")).unwrap();
    std::fs::write(dir.join("report/v1.schema.json"), "{ nope").unwrap();
    let (code, stderr) = run_to_exit(&[("JOB_TYPES_DIR", dir.to_str().unwrap())]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("JOB_TYPES_DIR") && stderr.contains("v1.schema.json"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_drains_in_flight_invocations_then_exits_cleanly() {
    let mut h = Handler::start(&[("PROCESSING_DELAY_MS", "1500")]).await;
    let envelope = {
        let inv = common::http_invocation(
            "POST",
            &[("Content-Type", "application/json")],
            Some(common::SAMPLE_JOB),
        );
        h.invoke("IngestJob", &inv).await.1["Outputs"]["job"].to_string()
    };
    let in_flight = {
        let (client, url) = (h.client.clone(), format!("{}/ProcessJob", h.base));
        let inv = sb_invocation(&envelope, 1, "m");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&inv)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::sigterm(&h.child);
    let status = in_flight
        .await
        .unwrap()
        .expect("in-flight invocation answered");
    assert_eq!(status, 200, "the in-flight invocation completes");
    let exit = tokio::task::spawn_blocking(move || h.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "clean exit after draining: {exit:?}");
}

#[tokio::test]
async fn an_unreachable_telemetry_endpoint_never_blocks_or_fails_requests() {
    // A port nobody listens on: every export fails.
    let dead = free_port();
    let cs = format!("InstrumentationKey=k;IngestionEndpoint=http://127.0.0.1:{dead}");
    let mut h = Handler::start(&[
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", &cs),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
        // 200 requests from one client: above the default bucket of 100.
        ("RATE_LIMIT_CLIENT_BURST", "1000"),
    ])
    .await;
    let inv = common::http_invocation(
        "POST",
        &[("Content-Type", "application/json")],
        Some(common::SAMPLE_JOB),
    );
    for _ in 0..200 {
        let (status, answer) = h.invoke("IngestJob", &inv).await;
        assert_eq!(
            (status, &answer["Outputs"]["res"]["statusCode"]),
            (200, &serde_json::json!(202))
        );
        let envelope = answer["Outputs"]["job"].to_string();
        assert_eq!(h.process(&envelope, 1, "m").await.0, 200);
    }
    // Shutdown flushes with a bounded wait, even though the endpoint is down.
    common::sigterm(&h.child);
    let exit = tokio::time::timeout(
        Duration::from_secs(40),
        tokio::task::spawn_blocking(move || h.child.wait()),
    )
    .await
    .expect("the handler exits in bounded time")
    .unwrap()
    .unwrap();
    assert!(exit.success(), "{exit:?}");
}
