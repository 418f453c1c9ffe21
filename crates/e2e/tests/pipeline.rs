//! The whole pipeline through the real binaries: devhost -> handler -> durable queue -> handler.
//! These tests pin broker redelivery (`RETRY_BACKOFF=off`); backoff mode has its own tests in
//! `backoff.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Method, SAMPLE_JOB, counts, load_run, start_app, submit_many, write_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_with_chaos_all_reconcile() {
    let settings = [
        ("CHAOS_FAILURE_RATE", "0.2"),
        ("PROCESSING_DELAY_MS", "0"),
        ("RETRY_BACKOFF", "off"),
    ];
    let accepted = 1_000;
    let run = load_run(5, &settings, accepted, 16, Duration::from_secs(120)).await;
    let (devhost, q) = (&run.devhost, &run.queue);
    let [enqueued, completed, dead, abandoned] = run.counts;
    assert_eq!(
        completed + dead,
        accepted,
        "every accepted job ends completed or dead-lettered: {q}"
    );
    assert_eq!(
        enqueued, accepted,
        "exactly one message per accepted job: {q}"
    );
    let latency = &q["completionLatencyMs"];
    assert_eq!(
        latency["count"].as_u64(),
        Some(completed),
        "one queue-to-completion sample per completed job: {q}"
    );
    assert!(
        latency["p50"].as_u64() <= latency["p99"].as_u64()
            && latency["p99"].as_u64() <= latency["max"].as_u64(),
        "percentiles are ordered: {latency}"
    );
    // 20% chaos: about 250 failed attempts for 1,000 jobs; P(5 failures in a row) = 0.032%.
    assert!(
        (150..=400).contains(&abandoned),
        "abandoned {abandoned} is far from 20% chaos: {q}"
    );
    assert!(
        dead <= 5,
        "{dead} jobs failed five times in a row at 20% chaos: {q}"
    );
    for d in devhost.dead_letters().await {
        assert_eq!(
            (d["reason"].as_str(), d["deliveryCount"].as_u64()),
            (Some("MaxDeliveryCountExceeded"), Some(5))
        );
    }
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_after_exactly_max_deliveries() {
    let (_app, devhost) = start_app(5, &[("CHAOS_FAILURE_RATE", "0")]).await;
    let sent = devhost.request(Method::POST, "/admin/queues/jobs/messages");
    let sent = sent.header("x-message-id", "poison-1");
    let sent = sent
        .body("{\"not\": \"an envelope\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let q = devhost.drained(1, Duration::from_secs(30)).await;
    let outcome = counts(&q, ["deadLettered", "abandoned", "completed"]);
    assert_eq!(outcome, [1, 5, 0], "{q}");
    let dl = devhost.dead_letters().await;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["messageId"], "poison-1");
    assert_eq!(dl[0]["reason"], "MaxDeliveryCountExceeded");
    assert_eq!(dl[0]["deliveryCount"], 5);
    assert_eq!(dl[0]["body"], "{\"not\": \"an envelope\"}");
}

#[tokio::test]
async fn a_resubmitted_dead_letter_is_processed_and_state_survives_a_restart() {
    // Every attempt fails: the job is dead-lettered after 2 deliveries.
    let (app, devhost) =
        start_app(2, &[("CHAOS_FAILURE_RATE", "1"), ("RETRY_BACKOFF", "off")]).await;
    let (status, body) = devhost.submit(SAMPLE_JOB).await.unwrap();
    assert_eq!(status, 202);
    let q = devhost.drained(1, Duration::from_secs(30)).await;
    assert_eq!(q["deadLettered"], 1, "{q}");
    let dl = devhost.dead_letters().await;
    assert!(
        dl[0]["body"]
            .as_str()
            .unwrap()
            .contains(body["jobId"].as_str().unwrap())
    );
    devhost.stop().await;

    // The fault is fixed (chaos off) and the devhost restarted on the same store.
    write_settings(
        &app.root,
        &[
            ("SERVICEBUS_MAX_DELIVERY_COUNT", "2"),
            ("CHAOS_FAILURE_RATE", "0"),
            ("RETRY_BACKOFF", "off"),
        ],
    );
    let devhost = app.devhost().await;
    assert_eq!(
        devhost.queue("jobs").await["deadLettered"],
        1,
        "dead letters are durable"
    );
    let ids = serde_json::json!({"ids": [dl[0]["sequenceNumber"].to_string()]});
    let resubmit = devhost.post_json("/admin/queues/jobs/deadletters/resubmit", &[], &ids);
    assert_eq!(resubmit.await["resubmitted"], 1);
    let q = devhost.drained(1, Duration::from_secs(30)).await;
    let outcome = counts(&q, ["deadLettered", "completed"]);
    assert_eq!(outcome, [0, 1], "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_crash_mid_run_loses_nothing() {
    let settings = [("CHAOS_FAILURE_RATE", "0"), ("PROCESSING_DELAY_MS", "20")];
    let (_app, devhost) = start_app(10, &settings).await;
    let devhost = Arc::new(devhost);
    let load = {
        let d = devhost.clone();
        tokio::spawn(async move { submit_many(&d, SAMPLE_JOB, 300, 8).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let handlers = devhost.children();
    assert_eq!(handlers.len(), 1, "one handler process");
    std::process::Command::new("kill")
        .args(["-9", &handlers[0].to_string()])
        .status()
        .unwrap();
    let accepted = load.await.unwrap();
    assert!(accepted > 0);
    let q = devhost.drained(accepted, Duration::from_secs(120)).await;
    let [completed, dead, enqueued] = counts(&q, ["completed", "deadLettered", "enqueued"]);
    assert_eq!(completed + dead, enqueued, "{q}");
    assert!(enqueued >= accepted, "every 202 is on the queue: {q}");
    assert_ne!(devhost.children(), handlers, "the handler was restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_devhost_kill_9_under_load_loses_nothing() {
    let settings = [("CHAOS_FAILURE_RATE", "0.2"), ("PROCESSING_DELAY_MS", "10")];
    let (app, devhost) = start_app(10, &settings).await;
    let devhost = Arc::new(devhost);
    let accepted = Arc::new(AtomicU64::new(0));
    let load = {
        let (d, accepted) = (devhost.clone(), accepted.clone());
        tokio::spawn(async move {
            loop {
                match d.submit(SAMPLE_JOB).await {
                    Ok((202, _)) => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
    };
    // Kill once the load is well under way (a count, not a time: a loaded machine is slow).
    let started = std::time::Instant::now();
    while accepted.load(Ordering::SeqCst) <= 50 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    devhost.kill9();
    let _ = load.await;
    let accepted = accepted.load(Ordering::SeqCst);
    assert!(
        accepted > 50,
        "load ran before the kill ({accepted} accepted)"
    );

    drop(devhost);
    let devhost = app.devhost().await;
    let q = devhost.drained(accepted, Duration::from_secs(120)).await;
    let [completed, dead, enqueued] = counts(&q, ["completed", "deadLettered", "enqueued"]);
    let settled = completed + dead;
    assert!(
        settled >= accepted,
        "{accepted} accepted before the crash, {settled} settled after: {q}"
    );
    assert_eq!(settled, enqueued, "{q}");
}
