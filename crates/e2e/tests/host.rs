//! Host behaviour through the real devhost binary: start-up errors, routing, concurrency, its CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    App, Method, SAMPLE_JOB, counts, devhost_binary, devhost_start_fails, max_concurrent_calls,
    repo_root, script_root, start_app,
};
use serde_json::Value;

#[test]
fn a_malformed_host_json_stops_start_up_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let root = script_root(dir.path(), &[]);
    std::fs::write(root.join("host.json"), r#"{"version":"2.0","extensions":{"serviceBus":{"maxConcurrentCalls":"many"}},"customHandler":{"description":{"defaultExecutablePath":"handler"}}}"#).unwrap();
    let (code, stderr) = devhost_start_fails(&root, &dir.path().join("data"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("host.json") && stderr.contains("extensions.serviceBus.maxConcurrentCalls"),
        "{stderr}"
    );

    std::fs::copy(common_host_json(), root.join("host.json")).unwrap();
    std::fs::write(
        root.join("ProcessJob/function.json"),
        r#"{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg"}]}"#,
    )
    .unwrap();
    let (code, stderr) = devhost_start_fails(&root, &dir.path().join("data"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("ProcessJob/function.json") && stderr.contains("bindings[0].queueName"),
        "{stderr}"
    );
}

fn common_host_json() -> std::path::PathBuf {
    repo_root().join("host.json")
}

#[tokio::test]
async fn methods_and_routes_are_enforced_like_the_host() {
    let (_app, d) = start_app(10, &[("CHAOS_FAILURE_RATE", "0")]).await;
    let get = d
        .request(Method::GET, "/api/IngestJob")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.status(),
        404,
        "GET is not in the binding's methods: the route does not match"
    );
    let unknown = d.post("/api/Nope", None, "{}").await;
    assert_eq!(unknown.status(), 404);
    let lower = d
        .post("/api/ingestjob", Some("application/json"), SAMPLE_JOB)
        .await;
    assert_eq!(lower.status(), 202, "routes match case-insensitively");
    let bad = d.post("/api/IngestJob", Some("text/plain"), "x").await;
    assert_eq!(bad.status(), 415);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    assert_eq!(
        d.drained(1, Duration::from_secs(30)).await["enqueued"],
        1,
        "rejected requests enqueue nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_never_exceed_max_concurrent_calls() {
    let app = App::stage(
        10,
        &[("CHAOS_FAILURE_RATE", "0"), ("PROCESSING_DELAY_MS", "1000")],
    );
    let limit = max_concurrent_calls(&app.root) as u64;
    let d = app.devhost().await;
    // All at once, so the limit is reached however slowly a loaded machine takes each one.
    let mut submits = tokio::task::JoinSet::new();
    for _ in 0..(limit * 3) {
        let post = d.client.post(format!("{}/api/IngestJob", d.url));
        let post = post
            .header("content-type", "application/json")
            .body(SAMPLE_JOB);
        submits.spawn(async move { post.send().await.map(|r| r.status().as_u16()) });
    }
    while let Some(status) = submits.join_next().await {
        assert_eq!(status.unwrap().unwrap(), 202);
    }
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = d.queue("jobs").await;
        let [locked, completed] = counts(&q, ["locked", "completed"]);
        peak = peak.max(locked);
        if completed == limit * 3 {
            break;
        }
        assert!(Instant::now() < deadline, "did not finish: {q}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        peak, limit,
        "in-flight deliveries reach but never exceed maxConcurrentCalls"
    );
}

#[tokio::test]
async fn queue_work_is_jobctl_s_and_the_map_stays_the_devhost_s() {
    // `devhost queues` / `dlq` / `send` were removed: a clap error that points at jobctl.
    for removed in [&["queues"][..], &["dlq", "peek"], &["send", "{}"]] {
        let out = Command::new(devhost_binary())
            .args(removed)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{removed:?}: {stderr}");
        assert!(
            stderr.contains("unrecognized subcommand")
                && stderr.contains(&format!("`devhost {}` was removed", removed[0]))
                && stderr.contains("jobctl --endpoint http://127.0.0.1:7071/servicebus queues"),
            "{stderr}"
        );
    }
    let help = Command::new(devhost_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("jobctl"));

    // What stays: the application map and the telemetry, read from a running devhost.
    let (_app, d) = start_app(2, &[("CHAOS_FAILURE_RATE", "0")]).await;
    assert_eq!(d.submit(SAMPLE_JOB).await.unwrap().0, 202);
    d.drained(1, Duration::from_secs(30)).await;
    let out = Command::new(devhost_binary())
        .args(["map", "--url", &d.url, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        map["edges"].as_array().is_some_and(|e| !e.is_empty()),
        "{map}"
    );
    let table = Command::new(devhost_binary())
        .args(["map", "--url", &d.url])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("EDGE"), "{table}");
}
