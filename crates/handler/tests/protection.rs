//! Ingest protection through the real binary: rate limits (per client, global) and velocity flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Handler, SAMPLE_JOB, free_port, http_invocation, res, res_body};
use serde_json::Value;

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Submit the sample job as the host would, with the front end's `X-Forwarded-For`.
async fn submit(h: &Handler, forwarded_for: &str) -> Value {
    let (status, answer) = h
        .invoke(
            "IngestJob",
            &http_invocation(
                "POST",
                &[JSON, ("X-Forwarded-For", forwarded_for)],
                Some(SAMPLE_JOB),
            ),
        )
        .await;
    assert_eq!(status, 200, "the invocation itself succeeds: {answer}");
    answer
}

fn status(answer: &Value) -> u64 {
    res(answer)["statusCode"].as_u64().unwrap()
}

/// A 429 answer: problem+json of `slug`, a `Retry-After` in whole seconds, and no queue output.
fn assert_limited(answer: &Value, slug: &str) {
    assert_eq!(status(answer), 429, "{answer}");
    assert!(
        answer["Outputs"].get("job").is_none(),
        "nothing enqueued: {answer}"
    );
    let res = res(answer);
    assert_eq!(res["headers"]["Content-Type"], "application/problem+json");
    let secs: u64 = res["headers"]["Retry-After"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 1, "{answer}");
    assert_eq!(
        res_body(answer)["type"],
        format!("urn:resilient-jobs:problem:{slug}")
    );
}

/// Submit once from each `client(i)`, `i` below `n`: every answer is a 202 with a job or a 429
/// of problem `slug`; how many were refused.
async fn refused(h: &Handler, n: usize, slug: &str, client: impl Fn(usize) -> String) -> usize {
    let mut limited = 0;
    for i in 0..n {
        let answer = submit(h, &client(i)).await;
        match status(&answer) {
            202 => assert!(answer["Outputs"]["job"].is_object(), "{answer}"),
            429 => {
                assert_limited(&answer, slug);
                limited += 1;
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    limited
}

/// A rate limit under test: its settings, `requests` submissions from `client(i)`, how many are
/// refused with `problem`, and a client then still accepted (its own bucket full), if any.
struct Limit {
    settings: &'static [(&'static str, &'static str)],
    requests: usize,
    client: fn(usize) -> String,
    problem: &'static str,
    refused: usize,
    then_accepted: Option<&'static str>,
}

#[tokio::test]
async fn the_client_and_global_limits_refuse_exactly_the_excess() {
    let limits = [
        // 20 tokens per client, one more every 1000 s: the refusals cannot depend on timing.
        // Whatever the client writes before the front end's entry is ignored.
        Limit {
            settings: &[
                ("RATE_LIMIT_CLIENT_BURST", "20"),
                ("RATE_LIMIT_CLIENT_REFILL_PER_SECOND", "0.001"),
            ],
            requests: 30,
            client: |i| format!("10.0.0.{i}, 198.51.100.7:5{i:04}"),
            problem: "rate-limited",
            refused: 10,
            then_accepted: Some("198.51.100.8"),
        },
        // 15 at once across every client, then one a minute.
        Limit {
            settings: &[
                ("RATE_LIMIT_GLOBAL_PER_MINUTE", "1"),
                ("RATE_LIMIT_GLOBAL_BURST", "15"),
            ],
            requests: 20,
            client: |i| format!("203.0.113.{i}"),
            problem: "global-rate-limited",
            refused: 5,
            then_accepted: None,
        },
    ];
    for limit in limits {
        let h = Handler::start(limit.settings).await;
        let refused = refused(&h, limit.requests, limit.problem, limit.client).await;
        assert_eq!(refused, limit.refused, "{}", limit.problem);
        if let Some(other) = limit.then_accepted {
            assert_eq!(status(&submit(&h, other).await), 202, "{other}");
        }
    }
}

#[tokio::test]
async fn fast_clients_get_their_jobs_flagged_and_still_processed() {
    let h = Handler::start(&[("VELOCITY_FLAG_PER_MINUTE", "3")]).await;
    let mut flags = Vec::new();
    for _ in 0..6 {
        let answer = submit(&h, "192.0.2.10:443").await;
        assert_eq!(status(&answer), 202, "flagged jobs are accepted: {answer}");
        flags.push(answer["Outputs"]["job"].clone());
    }
    let quiet = submit(&h, "192.0.2.11").await;
    let quiet = &quiet["Outputs"]["job"];
    assert!(quiet.get("suspicious").is_none() && quiet.get("suspicionReason").is_none());

    for (i, envelope) in flags.iter().enumerate() {
        if i < 3 {
            assert!(envelope.get("suspicious").is_none(), "{i}: {envelope}");
        } else {
            assert_eq!(envelope["suspicious"], true, "{i}: {envelope}");
            let reason = envelope["suspicionReason"].as_str().unwrap();
            assert!(
                reason.contains("more than 3 requests per minute"),
                "{reason}"
            );
        }
    }
    // A flagged envelope is a valid envelope: ProcessJob completes it.
    let (code, answer) = h.process(&flags[5].to_string(), 1, "flagged-1").await;
    assert_eq!(code, 200, "{answer}");
}

#[tokio::test]
async fn an_unreadable_queue_depth_fails_open() {
    let dead = free_port();
    let endpoint = format!("http://127.0.0.1:{dead}/servicebus");
    let h = Handler::start(&[
        ("SERVICEBUS_ENDPOINT", &endpoint),
        ("BACKPRESSURE_LOW_THRESHOLD", "0"),
        ("BACKPRESSURE_NORMAL_THRESHOLD", "0"),
        ("BACKPRESSURE_REFRESH_MS", "100"),
    ])
    .await;
    // Several refresh intervals pass without a reading: nothing is shed.
    for _ in 0..5 {
        assert_eq!(status(&submit(&h, "192.0.2.20").await), 202);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let health: Value = h.get_json("/healthz").await;
    assert!(health["queueDepth"].is_null(), "{health}");
}

#[test]
fn a_priority_for_an_unknown_job_type_stops_start_up() {
    let (mut cmd, _) = common::command(&[("JOB_TYPE_PRIORITIES", "reprot=low")]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("JOB_TYPE_PRIORITIES: unknown job type \"reprot\""),
        "{stderr}"
    );
}
