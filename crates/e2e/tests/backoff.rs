//! Backoff mode through the real binaries (devhost -> handler -> durable queue -> handler, and
//! the handler's Service Bus REST sends back to the devhost): observed retry delays follow the
//! configured schedule, a thousand jobs with 20% chaos reconcile exactly, and a REST send that
//! cannot reach the namespace falls back to broker redelivery without losing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{SAMPLE_JOB, counts, free_port, load_run, start_app};
use serde_json::Value;
use servicebus::{Auth, ServiceBusClient, dead_letter_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn observed_retry_delays_follow_the_schedule_within_jitter_bounds() {
    const JOBS: u64 = 8;
    // Every attempt fails: attempt 1 is rescheduled within [0, 1000] ms, attempt 2 within
    // [0, 1500] ms (2000 capped), attempt 3 is the last; its second delivery fails fast and the
    // broker dead-letters it (MaxDeliveryCount 2).
    let (_app, d) = start_app(
        2,
        &[
            ("CHAOS_FAILURE_RATE", "1"),
            ("PROCESSING_DELAY_MS", "0"),
            ("RETRY_BASE_MS", "1000"),
            ("RETRY_CAP_MS", "1500"),
            ("RETRY_MAX_ATTEMPTS", "3"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    )
    .await;
    let mut jobs = Vec::new();
    for _ in 0..JOBS {
        let (status, body) = d.submit(SAMPLE_JOB).await.unwrap();
        assert_eq!(status, 202);
        jobs.push(body["jobId"].as_str().unwrap().to_owned());
    }
    let q = d.drained(JOBS * 3, Duration::from_secs(60)).await;
    assert_eq!(
        counts(&q, ["enqueued", "completed", "deadLettered", "abandoned"]),
        [JOBS * 3, JOBS * 2, JOBS, JOBS * 2],
        "three copies per job, two completed by rescheduling, the last dead-lettered after two deliveries: {q}"
    );

    // Each dead letter is the third copy: its enqueue time is its scheduled time, and it carries
    // when attempt 2 failed and the delay drawn.
    let sb = ServiceBusClient::new(&format!("{}/servicebus", d.url), Auth::None).unwrap();
    let ceiling = Duration::from_millis(1500);
    for _ in 0..JOBS {
        let m = sb
            .peek_lock(&dead_letter_path("jobs"), 1)
            .await
            .unwrap()
            .unwrap();
        let (job_id, attempt) = m.message_id.split_once(':').unwrap();
        assert!(jobs.iter().any(|j| j == job_id), "{}", m.message_id);
        assert_eq!((attempt, m.property("attempt")), ("3", Some("3")));
        assert!(m.correlation_id.as_deref().is_some_and(|c| !c.is_empty()));
        assert_eq!(m.dead_letter_reason(), Some("MaxDeliveryCountExceeded"));
        assert_eq!(m.delivery_count, 2);
        let body: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(
            (body["jobId"].as_str(), body["attempt"].as_u64()),
            (Some(job_id), Some(3))
        );

        let failed_at: DateTime<Utc> = m.property("failedAtUtc").unwrap().parse().unwrap();
        let drawn = Duration::from_millis(m.property("retryDelayMs").unwrap().parse().unwrap());
        assert!(drawn <= ceiling, "drawn delay {drawn:?} above the ceiling");
        let observed = (m.enqueued_time.unwrap() - failed_at).to_std().unwrap();
        // The schedule has whole-second precision (RFC 1123) and is rounded up: never early,
        // at most a second late (plus slack for a slow send).
        assert!(observed >= drawn, "observed {observed:?} < drawn {drawn:?}");
        assert!(
            observed <= drawn + Duration::from_millis(1_500),
            "observed {observed:?} far above drawn {drawn:?}"
        );
        assert!(observed <= ceiling + Duration::from_millis(1_500));
        sb.complete(&m).await.unwrap();
    }

    // Metrics: two reschedules per job, and the per-job audit counts jobs, not messages: each
    // job received once (not once per copy), never completed, failed on four attempts
    // (three copies, the last delivered twice), rescheduled twice and dead-lettered once.
    let wanted = [
        ("JobRetryScheduled", JOBS * 2),
        ("TenantJobReceived", JOBS),
        ("TenantJobCompleted", 0),
        ("TenantJobAttemptFailed", JOBS * 4),
        ("TenantJobRescheduled", JOBS * 2),
        ("TenantJobDeadLettered", JOBS),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let map: Value = d.get_json("/map.json").await;
        let seen: Vec<(&str, u64)> = wanted
            .iter()
            .map(|(name, _)| (*name, map["metrics"][*name].as_f64().unwrap_or(0.0) as u64))
            .collect();
        if seen == wanted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics {seen:?}, expected {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_jobs_with_chaos_and_backoff_reconcile_exactly() {
    let settings = [
        ("CHAOS_FAILURE_RATE", "0.2"),
        ("PROCESSING_DELAY_MS", "0"),
        ("RETRY_BASE_MS", "50"),
        ("RETRY_CAP_MS", "200"),
        ("RETRY_MAX_ATTEMPTS", "4"),
    ];
    let accepted = 1_000;
    let run = load_run(5, &settings, accepted, 16, Duration::from_secs(180)).await;
    let (d, q) = (&run.devhost, &run.queue);
    let [enqueued, completed, dead, abandoned] = run.counts;
    // Every message settled; the messages beyond the accepted jobs are the rescheduled copies,
    // each of which completed its predecessor.
    assert_eq!(completed + dead, enqueued, "every message settled: {q}");
    let rescheduled = enqueued - accepted;
    assert_eq!(
        completed - rescheduled + dead,
        accepted,
        "every accepted job ends completed or dead-lettered, once: {q}"
    );
    assert!(
        (150..=400).contains(&rescheduled),
        "{rescheduled} reschedules is far from 20% chaos: {q}"
    );
    // Only exhausted jobs go through the broker (five failed deliveries each), plus any
    // reschedule whose send failed and fell back to redelivery (none expected on loopback).
    assert!(
        (dead * 5..=dead * 5 + 5).contains(&abandoned),
        "abandoned {abandoned}, dead-lettered {dead}: {q}"
    );
    // P(4 failures in a row) = 0.16%: about 1.6 of 1,000; more than 10 is ~1e-5 likely.
    assert!(dead <= 10, "{q}");
    for dl in d.dead_letters().await {
        let body: Value = serde_json::from_str(dl["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["attempt"], 4, "{dl}");
        assert_eq!(dl["deliveryCount"], 5, "{dl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_rest_send_falls_back_to_broker_redelivery_without_loss() {
    // Nothing listens on this port: every reschedule fails, so the invocation fails and the
    // broker redelivers the original.
    let closed = format!("http://127.0.0.1:{}/servicebus", free_port());
    let settings = [
        ("CHAOS_FAILURE_RATE", "0.2"),
        ("CHAOS_SEED", "99"),
        ("PROCESSING_DELAY_MS", "0"),
        ("SERVICEBUS_ENDPOINT", &closed),
    ];
    let accepted = 200;
    let run = load_run(5, &settings, accepted, 8, Duration::from_secs(120)).await;
    let q = &run.queue;
    let [enqueued, completed, dead, abandoned] = run.counts;
    assert_eq!(enqueued, accepted, "no copy was sent: {q}");
    assert_eq!(completed + dead, accepted, "nothing lost: {q}");
    assert!(
        (20..=90).contains(&abandoned),
        "failed attempts went to the broker: {q}"
    );
}
