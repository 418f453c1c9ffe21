//! Handler and lock lifecycle through the real binaries: lock auto-renewal, the function timeout
//! that restarts the handler, and a clean shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{App, SAMPLE_JOB, counts, edit_host_json};
use serde_json::json;

#[tokio::test]
async fn a_slow_invocation_keeps_its_lock_by_auto_renewal() {
    // Processing (7 s) outlives the lock (5 s): only renewal keeps the message from being
    // redelivered to a second invocation while the first still runs.
    let app = App::stage(
        10,
        &[("CHAOS_FAILURE_RATE", "0"), ("PROCESSING_DELAY_MS", "7000")],
    );
    let d = app.devhost_with(&["--lock-duration", "PT5S"]).await;
    assert_eq!(d.submit(SAMPLE_JOB).await.unwrap().0, 202);
    let q = d.drained(1, Duration::from_secs(30)).await;
    let outcome = counts(&q, ["completed", "abandoned", "enqueued"]);
    assert_eq!(
        outcome,
        [1, 0, 1],
        "one delivery, completed under a renewed lock: {q}"
    );
}

#[tokio::test]
async fn a_function_timeout_restarts_the_handler_and_abandons_the_message() {
    let app = App::stage(
        2,
        &[
            ("CHAOS_FAILURE_RATE", "0"),
            ("PROCESSING_DELAY_MS", "60000"),
        ],
    );
    // 4 s: well past IngestJob's answer even on a loaded CI machine (2 s was seen to cut it).
    edit_host_json(&app.root, "/functionTimeout", json!("00:00:04"));
    let d = app.devhost().await;
    let first = d.children();
    assert_eq!(first.len(), 1, "one handler process");
    // IngestJob does no simulated work: it answers well within the timeout.
    assert_eq!(d.submit(SAMPLE_JOB).await.unwrap().0, 202);
    let q = d.drained(1, Duration::from_secs(60)).await;
    assert_eq!(
        counts(&q, ["deadLettered", "abandoned"]),
        [1, 2],
        "each delivery timed out and was abandoned; the second was the last: {q}"
    );
    let dl = &d.dead_letters().await[0];
    assert_eq!(dl["reason"], "MaxDeliveryCountExceeded");
    assert!(
        dl["lastError"].as_str().unwrap().contains("timed out"),
        "{dl}"
    );
    // The handler was killed and started again (twice); a new one is serving.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = d.children();
        if now.len() == 1 && now != first {
            break;
        }
        assert!(Instant::now() < deadline, "handler not restarted: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.submit(SAMPLE_JOB).await.unwrap().0, 202, "serving again");
}

#[tokio::test]
async fn sigterm_drains_in_flight_deliveries_then_stops_the_handler() {
    let app = App::stage(
        10,
        &[("CHAOS_FAILURE_RATE", "0"), ("PROCESSING_DELAY_MS", "1500")],
    );
    let mut d = app.devhost().await;
    let handlers = d.children();
    assert_eq!(handlers.len(), 1);
    assert_eq!(d.submit(SAMPLE_JOB).await.unwrap().0, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.queue("jobs").await["locked"] != 1 {
        assert!(Instant::now() < deadline, "the job was not picked up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "devhost did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit: {status}");
    assert!(
        !std::path::Path::new(&format!("/proc/{}", handlers[0])).exists(),
        "the handler was stopped with the devhost"
    );
    drop(d);
    let d = app.devhost().await;
    let q = d.queue("jobs").await;
    assert_eq!(
        counts(&q, ["completed", "abandoned", "active", "locked"]),
        [1, 0, 0, 0],
        "the in-flight delivery finished and was completed before the handler stopped: {q}"
    );
}
