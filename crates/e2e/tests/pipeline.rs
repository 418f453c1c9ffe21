//! The whole pipeline through the real binaries: devhost -> handler -> durable queue -> handler.
//! These tests pin broker redelivery (`RETRY_BACKOFF=off`); backoff mode has its own tests in
//! `backoff.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Devhost, SAMPLE_JOB, free_port, script_root, write_settings};

/// Submit `n` jobs with `concurrency` clients; the number answered 202.
async fn submit_many(devhost: &Arc<Devhost>, n: usize, concurrency: usize) -> u64 {
    let accepted = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (d, accepted, next) = (devhost.clone(), accepted.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < n as u64 {
                if let Ok((202, _)) = d.submit(SAMPLE_JOB).await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    accepted.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_with_chaos_all_reconcile() {
    let dir = tempfile::tempdir().unwrap();
    let root = script_root(
        dir.path(),
        &[
            ("CHAOS_FAILURE_RATE", "0.2"),
            ("PROCESSING_DELAY_MS", "0"),
            ("RETRY_BACKOFF", "off"),
        ],
    );
    let devhost = Arc::new(Devhost::start(&root, &dir.path().join("data"), free_port(), 5).await);
    let accepted = submit_many(&devhost, 1_000, 16).await;
    assert_eq!(accepted, 1_000, "every valid job is accepted");
    let q = devhost.drained(accepted, Duration::from_secs(120)).await;
    let (completed, dead, abandoned) = (
        q["completed"].as_u64().unwrap(),
        q["deadLettered"].as_u64().unwrap(),
        q["abandoned"].as_u64().unwrap(),
    );
    assert_eq!(
        completed + dead,
        accepted,
        "every accepted job ends completed or dead-lettered: {q}"
    );
    assert_eq!(
        q["enqueued"].as_u64().unwrap(),
        accepted,
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
    let dir = tempfile::tempdir().unwrap();
    let root = script_root(dir.path(), &[("CHAOS_FAILURE_RATE", "0")]);
    let devhost = Devhost::start(&root, &dir.path().join("data"), free_port(), 5).await;
    let sent = devhost
        .client
        .post(format!("{}/admin/queues/jobs/messages", devhost.url))
        .header("x-message-id", "poison-1")
        .body("{\"not\": \"an envelope\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let q = devhost.drained(1, Duration::from_secs(30)).await;
    assert_eq!(
        (
            q["deadLettered"].as_u64(),
            q["abandoned"].as_u64(),
            q["completed"].as_u64()
        ),
        (Some(1), Some(5), Some(0)),
        "{q}"
    );
    let dl = devhost.dead_letters().await;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["messageId"], "poison-1");
    assert_eq!(dl[0]["reason"], "MaxDeliveryCountExceeded");
    assert_eq!(dl[0]["deliveryCount"], 5);
    assert_eq!(dl[0]["body"], "{\"not\": \"an envelope\"}");
}

#[tokio::test]
async fn a_resubmitted_dead_letter_is_processed_and_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Every attempt fails: the job is dead-lettered after 2 deliveries.
    let root = script_root(
        dir.path(),
        &[("CHAOS_FAILURE_RATE", "1"), ("RETRY_BACKOFF", "off")],
    );
    let port = free_port();
    let devhost = Devhost::start(&root, &data, port, 2).await;
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
        &root,
        &[("CHAOS_FAILURE_RATE", "0"), ("RETRY_BACKOFF", "off")],
    );
    let devhost = Devhost::start(&root, &data, port, 2).await;
    assert_eq!(
        devhost.queue("jobs").await["deadLettered"],
        1,
        "dead letters are durable"
    );
    let resubmit = devhost
        .client
        .post(format!(
            "{}/admin/queues/jobs/deadletters/resubmit",
            devhost.url
        ))
        .json(&serde_json::json!({"ids": [dl[0]["sequenceNumber"].to_string()]}))
        .send()
        .await
        .unwrap();
    let resubmit: serde_json::Value = resubmit.json().await.unwrap();
    assert_eq!(resubmit["resubmitted"], 1);
    let q = devhost.drained(1, Duration::from_secs(30)).await;
    assert_eq!(
        (q["deadLettered"].as_u64(), q["completed"].as_u64()),
        (Some(0), Some(1)),
        "{q}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_crash_mid_run_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = script_root(
        dir.path(),
        &[("CHAOS_FAILURE_RATE", "0"), ("PROCESSING_DELAY_MS", "20")],
    );
    let devhost = Arc::new(Devhost::start(&root, &dir.path().join("data"), free_port(), 10).await);
    let load = {
        let d = devhost.clone();
        tokio::spawn(async move { submit_many(&d, 300, 8).await })
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
    assert_eq!(
        q["completed"].as_u64().unwrap() + q["deadLettered"].as_u64().unwrap(),
        q["enqueued"].as_u64().unwrap(),
        "{q}"
    );
    assert!(
        q["enqueued"].as_u64().unwrap() >= accepted,
        "every 202 is on the queue: {q}"
    );
    assert_ne!(devhost.children(), handlers, "the handler was restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_devhost_kill_9_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = script_root(
        dir.path(),
        &[("CHAOS_FAILURE_RATE", "0.2"), ("PROCESSING_DELAY_MS", "10")],
    );
    let port = free_port();
    let devhost = Arc::new(Devhost::start(&root, &data, port, 10).await);
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
    let devhost = Devhost::start(&root, &data, port, 10).await;
    let q = devhost.drained(accepted, Duration::from_secs(120)).await;
    let settled = q["completed"].as_u64().unwrap() + q["deadLettered"].as_u64().unwrap();
    assert!(
        settled >= accepted,
        "{accepted} accepted before the crash, {settled} settled after: {q}"
    );
    assert_eq!(settled, q["enqueued"].as_u64().unwrap(), "{q}");
}
