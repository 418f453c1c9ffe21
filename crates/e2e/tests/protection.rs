//! Ingest protection through the whole pipeline (devhost -> handler -> queue -> handler):
//! backpressure switching on and off around its threshold against the devhost's Service Bus REST
//! subset, and nothing accepted lost while rate limits refuse requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{App, Devhost, Method, SAMPLE_JOB, counts, set_host_json, start_app};
use serde_json::json;

const THUMBNAIL: &str = r#"{"jobType":"thumbnail","tenantId":"contoso","payload":{"imageUrl":"https://example.com/a.png","width":64,"height":64}}"#;

/// POST a job; status and `Retry-After`.
async fn post(d: &Devhost, job: &str) -> (u16, Option<u64>, serde_json::Value) {
    let res = d
        .post("/api/IngestJob", Some("application/json"), job)
        .await;
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, res.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backpressure_sheds_low_priority_jobs_while_the_queue_is_deep() {
    let app = App::stage(
        5,
        &[
            ("CHAOS_FAILURE_RATE", "0"),
            ("PROCESSING_DELAY_MS", "600"),
            ("BACKPRESSURE_LOW_THRESHOLD", "3"),
            ("BACKPRESSURE_NORMAL_THRESHOLD", "1000"),
            // Readings count for three refreshes: 900 ms, so a poll a loaded machine delays does not
            // go stale (fail open) in the middle of the test.
            ("BACKPRESSURE_REFRESH_MS", "300"),
            ("BACKPRESSURE_RETRY_AFTER_SECS", "2"),
            ("JOB_TYPE_PRIORITIES", "report=low,thumbnail=normal"),
        ],
    );
    // One delivery at a time: the queue drains slowly enough to be seen deep.
    set_host_json(&app.root, |h| {
        h["extensions"]["serviceBus"]["maxConcurrentCalls"] = json!(1);
    });
    let d = app.devhost().await;
    let mut accepted = 0;

    // Shallow queue: a low-priority job is accepted.
    assert_eq!(post(&d, SAMPLE_JOB).await.0, 202);
    accepted += 1;
    // Deepen it with normal-priority jobs, which are never shed at this depth.
    for _ in 0..12 {
        assert_eq!(post(&d, THUMBNAIL).await.0, 202);
        accepted += 1;
    }
    // The devhost's entity endpoint reports the depth in Service Bus's Atom shape.
    let atom = d.get_text("/servicebus/jobs?api-version=2021-05").await;
    assert!(atom.contains("ActiveMessageCount>"), "{atom}");

    // On: once the handler's poller sees more than 3 active messages, low priority gets 503.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, retry, body) = post(&d, SAMPLE_JOB).await;
        if status == 503 {
            assert_eq!(retry, Some(2));
            assert_eq!(body["type"], "urn:resilient-jobs:problem:overloaded");
            break;
        }
        assert_eq!(status, 202, "{body}");
        accepted += 1;
        assert!(Instant::now() < deadline, "backpressure never switched on");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Normal priority is still accepted meanwhile.
    assert_eq!(post(&d, THUMBNAIL).await.0, 202);
    accepted += 1;

    // Off: as ProcessJob drains the queue to 3 or fewer, low priority is accepted again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = post(&d, SAMPLE_JOB).await;
        if status == 202 {
            accepted += 1;
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "backpressure never switched off");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let q = d.queue("jobs").await;
    let depth: u64 = counts(&q, ["active", "locked"]).iter().sum();
    assert!(depth <= 4, "switched off at depth {depth}: {q}");

    // Every accepted job was enqueued once and processed; shed ones were never enqueued.
    let q = d.drained(accepted, Duration::from_secs(60)).await;
    let outcome = counts(&q, ["enqueued", "completed"]);
    assert_eq!(outcome, [accepted, accepted], "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_accepted_is_lost_while_rate_limits_refuse() {
    let (_app, d) = start_app(
        5,
        &[
            ("CHAOS_FAILURE_RATE", "0.2"),
            ("CHAOS_SEED", "7"),
            ("PROCESSING_DELAY_MS", "0"),
            // One message per job (broker redelivery): backoff mode has its own tests.
            ("RETRY_BACKOFF", "off"),
            // Every request comes from 127.0.0.1 (the devhost appends the peer): one bucket of
            // 40 that does not refill during the test.
            ("RATE_LIMIT_CLIENT_BURST", "40"),
            ("RATE_LIMIT_CLIENT_REFILL_PER_SECOND", "0.001"),
        ],
    )
    .await;
    let d = Arc::new(d);
    let (accepted, limited) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (d, accepted, limited) = (d.clone(), accepted.clone(), limited.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                match post(&d, SAMPLE_JOB).await {
                    (202, _, _) => accepted.fetch_add(1, Ordering::SeqCst),
                    (429, Some(secs), _) if secs >= 1 => limited.fetch_add(1, Ordering::SeqCst),
                    other => panic!("unexpected answer {other:?}"),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (accepted, limited) = (
        accepted.load(Ordering::SeqCst),
        limited.load(Ordering::SeqCst),
    );
    assert_eq!(
        (accepted, limited),
        (40, 40),
        "80 requests against a bucket of 40"
    );
    let q = d.drained(accepted, Duration::from_secs(60)).await;
    let [enqueued, completed, dead] = counts(&q, ["enqueued", "completed", "deadLettered"]);
    assert_eq!([enqueued, completed + dead], [accepted, accepted], "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn velocity_flags_follow_the_trusted_forwarded_client() {
    let (_app, d) = start_app(
        5,
        &[
            ("CHAOS_FAILURE_RATE", "0"),
            ("PROCESSING_DELAY_MS", "0"),
            ("VELOCITY_FLAG_PER_MINUTE", "3"),
            // A trusted proxy in front of the (devhost's) front end: the client is the entry
            // before the one the devhost appends.
            ("CLIENT_IP_HOPS", "2"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    )
    .await;
    let send = |client: &'static str| {
        d.request(Method::POST, "/api/IngestJob")
            .header("content-type", "application/json")
            // The client's own forged entry comes first and is ignored.
            .header("x-forwarded-for", format!("10.9.9.9, {client}"))
            .body(SAMPLE_JOB)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(send("198.51.100.1").await.unwrap().status().as_u16(), 202);
    }
    for _ in 0..2 {
        assert_eq!(send("198.51.100.2").await.unwrap().status().as_u16(), 202);
    }
    let q = d.drained(7, Duration::from_secs(30)).await;
    assert_eq!(q["completed"], 7, "flagged jobs are processed: {q}");
    // Exactly the first client's 4th and 5th jobs were flagged (and it stays at 2 over several
    // further export intervals).
    let deadline = Instant::now() + Duration::from_secs(20);
    while flagged(&d).await != Some(2.0) {
        assert!(
            Instant::now() < deadline,
            "JobFlagged is {:?}, expected 2",
            flagged(&d).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(flagged(&d).await, Some(2.0));
}

/// The `JobFlagged` total on the devhost's map, once exported.
async fn flagged(d: &Devhost) -> Option<f64> {
    let map = d.get_json("/map.json").await;
    map["metrics"]["JobFlagged"].as_f64()
}
