//! `ProcessJob` through the real binary, with Service Bus trigger invocations shaped as the host
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! sends them (double-encoded body, string-encoded metadata scalars).

mod common;

use std::time::Duration;

use common::{Handler, SAMPLE_JOB, http_invocation, sb_invocation};
use serde_json::{Value, json};

/// Ingest the sample job and return the envelope the host would put on the queue, as text.
async fn enqueued_envelope(h: &Handler, job: &str) -> String {
    let (_, answer) = h
        .invoke(
            "IngestJob",
            &http_invocation("POST", &[("Content-Type", "application/json")], Some(job)),
        )
        .await;
    answer["Outputs"]["job"].to_string()
}

/// [`enqueued_envelope`] of the sample job, and its `jobId`.
async fn enqueued_sample(h: &Handler) -> (String, String) {
    let envelope = enqueued_envelope(h, SAMPLE_JOB).await;
    let job: Value = serde_json::from_str(&envelope).unwrap();
    let job_id = job["jobId"].as_str().unwrap().to_owned();
    (envelope, job_id)
}

#[tokio::test]
async fn completes_an_envelope_from_ingest() {
    let h = Handler::start(&[("PROCESSING_DELAY_MS", "5")]).await;
    let (envelope, job_id) = enqueued_sample(&h).await;
    let (status, answer) = h.process(&envelope, 1, "m-1").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["Outputs"], json!({}));
    let log = answer["Logs"][0].as_str().unwrap();
    assert!(log.contains(&job_id) && log.contains("delivery 1"), "{log}");
}

#[tokio::test]
async fn tolerates_single_encoded_and_object_bodies() {
    let h = Handler::start(&[]).await;
    let envelope = enqueued_envelope(&h, SAMPLE_JOB).await;
    let mut single = sb_invocation(&envelope, 1, "m-2");
    single["Data"]["msg"] = json!(envelope);
    assert_eq!(h.invoke("ProcessJob", &single).await.0, 200);
    let mut object = sb_invocation(&envelope, 1, "m-3");
    object["Data"]["msg"] = serde_json::from_str(&envelope).unwrap();
    assert_eq!(h.invoke("ProcessJob", &object).await.0, 200);
}

#[tokio::test]
async fn simulated_crash_fails_the_invocation_naming_job_and_delivery() {
    let h = Handler::start(&[("CHAOS_FAILURE_RATE", "1")]).await;
    let (envelope, job_id) = enqueued_sample(&h).await;
    let (status, body) = h.process(&envelope, 3, "m-4").await;
    assert_eq!(
        status, 500,
        "a non-2xx answer makes the runtime abandon the message"
    );
    assert_eq!(body["type"], "urn:resilient-jobs:problem:simulated-crash");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("simulated crash")
            && detail.contains(&job_id)
            && detail.contains("delivery 3"),
        "{detail}"
    );
}

#[tokio::test]
async fn poison_messages_fail_fast_without_the_simulated_work() {
    // A minute of simulated work per attempt: a poison message must not wait for it.
    let h = Handler::start(&[("PROCESSING_DELAY_MS", "60000")]).await;
    let envelope: Value = serde_json::from_str(&enqueued_envelope(&h, SAMPLE_JOB).await).unwrap();
    let mut unknown_version = envelope.clone();
    unknown_version["envelopeVersion"] = json!(99);
    let mut unknown_type = envelope.clone();
    unknown_type["jobType"] = json!("retired-type");
    let mut extra_field = envelope.clone();
    extra_field["surprise"] = json!(1);
    let cases = [
        ("not json at all".to_owned(), "not JSON"),
        ("{\"hello\":\"world\"}".to_owned(), "envelopeVersion"),
        (
            unknown_version.to_string(),
            "unsupported envelopeVersion 99",
        ),
        (
            unknown_type.to_string(),
            "unknown job type \"retired-type\"",
        ),
        (extra_field.to_string(), "surprise"),
    ];
    for (body, reason) in cases {
        let inv = sb_invocation(&body, 2, "poison-1");
        let call = h.invoke("ProcessJob", &inv);
        let (status, problem) = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("poison fails fast");
        assert_eq!(status, 500);
        assert_eq!(problem["type"], "urn:resilient-jobs:problem:poison-message");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(reason) && detail.contains("poison-1"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn a_malformed_invocation_fails_the_invocation() {
    let h = Handler::start(&[]).await;
    // Either function: no trigger binding in `Data` (the answer names the one wanted), or no
    // invocation object at all.
    for (function, binding) in [("IngestJob", "`req`"), ("ProcessJob", "`msg`")] {
        let (status, body) = h
            .invoke(function, &json!({"Data": {}, "Metadata": {}}))
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            body["type"],
            "urn:resilient-jobs:problem:invocation-malformed"
        );
        assert!(body["detail"].as_str().unwrap().contains(binding), "{body}");
        let (status, _) = h.invoke(function, &json!([1, 2])).await;
        assert_eq!(status, 400, "{function}");
    }
    let mut bad_count = sb_invocation("{}", 1, "m");
    bad_count["Metadata"]["DeliveryCount"] = json!("\"lots\"");
    let (status, body) = h.invoke("ProcessJob", &bad_count).await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("DeliveryCount"),
        "{body}"
    );
}

#[tokio::test]
async fn seeded_chaos_rate_is_within_bounds_and_reproducible() {
    const N: usize = 2_000;
    const RATE: f64 = 0.2;
    let env = [("CHAOS_FAILURE_RATE", "0.2"), ("CHAOS_SEED", "20261124")];
    let template: Value = {
        let h = Handler::start(&[]).await;
        serde_json::from_str(&enqueued_envelope(&h, SAMPLE_JOB).await).unwrap()
    };
    let bodies: Vec<String> = (0..N)
        .map(|i| {
            let mut e = template.clone();
            e["jobId"] = json!(format!("01900000-0000-7000-8000-{i:012x}"));
            e.to_string()
        })
        .collect();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let h = Handler::start(&env).await;
        let mut outcomes = Vec::with_capacity(N);
        for body in &bodies {
            outcomes.push(h.process(body, 1, "m").await.0);
        }
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1], "the same seed gives the same outcomes");
    let failures = runs[0].iter().filter(|s| **s == 500).count() as f64;
    assert_eq!(
        runs[0].iter().filter(|s| **s != 500 && **s != 200).count(),
        0
    );
    let (mean, sd) = (N as f64 * RATE, (N as f64 * RATE * (1.0 - RATE)).sqrt());
    assert!(
        (failures - mean).abs() < 5.0 * sd,
        "{failures} failures of {N}, expected {mean} ± {}",
        5.0 * sd
    );
}

/// A job whose work fails for good (a PDF report over the row limit) fails on every delivery, is
/// never rescheduled, and a redelivery fails fast without the work, naming the reason each time.
#[tokio::test]
async fn a_permanent_failure_fails_every_delivery_naming_the_reason() {
    // Chaos always on: a permanent failure is the work's own, never replaced by chaos. A minute
    // of simulated work: the verdict comes before it, and a redelivery does not run it again.
    let h = Handler::start(&[
        ("CHAOS_FAILURE_RATE", "1"),
        ("PROCESSING_DELAY_MS", "60000"),
    ])
    .await;
    let job = r#"{"jobType":"report","version":2,"tenantId":"contoso","payload":{"reportName":"everything","rows":200000,"format":"pdf"}}"#;
    let envelope = enqueued_envelope(&h, job).await;
    assert!(envelope.contains("\"rows\":200000"), "{envelope}");
    for delivery in 1..=3 {
        let inv = sb_invocation(&envelope, delivery, "m-p");
        let call = h.invoke("ProcessJob", &inv);
        let (status, problem) = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .expect("a permanent failure does not wait for the simulated work");
        assert_eq!(status, 500, "{problem}");
        assert_eq!(
            problem["type"],
            "urn:resilient-jobs:problem:permanent-failure"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("at most 100000 rows"), "{detail}");
        assert_eq!(
            detail.contains("failing fast"),
            delivery > 1,
            "delivery {delivery}: {detail}"
        );
    }
}
