//! `jobctl job <jobId>` through the real binaries: a job that failed twice, was rescheduled,
//! dead-lettered, resubmitted and completed shows exactly that timeline; bad input gets its own
//! exit code (a malformed id 2, an unknown id 6, an unreachable telemetry endpoint 7); the 202
//! carries no `Location` (there is no status monitor to poll).
//!
//! The pipeline runs twice over one durable queue: first on a devhost whose handler always
//! fails (chaos rate 1), then on one whose handler never does. Both handlers export their
//! telemetry to a third devhost (`APPLICATIONINSIGHTS_CONNECTION_STRING` names it), as in
//! Azure the Application Insights resource outlives every restart of the function app.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Devhost, Method, SAMPLE_JOB, free_port, jobctl_at, jobctl_command, run, script_root,
    write_settings,
};
use serde_json::Value;

fn settings(chaos: &str, telemetry: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CHAOS_FAILURE_RATE", chaos.to_owned()),
        ("PROCESSING_DELAY_MS", "0".into()),
        ("RETRY_BASE_MS", "400".into()),
        ("RETRY_CAP_MS", "800".into()),
        ("RETRY_MAX_ATTEMPTS", "2".into()),
        ("SERVICEBUS_MAX_DELIVERY_COUNT", "2".into()),
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            format!(
                "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={telemetry}/"
            ),
        ),
    ]
}

fn apply(root: &Path, values: &[(&'static str, String)]) {
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    write_settings(root, &pairs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_jobs_timeline_shows_failures_reschedule_dead_letter_resubmission_and_completion() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // The telemetry store: a devhost of its own (its own script root and queue, idle).
    let store_dir = dir.path().join("store");
    std::fs::create_dir_all(&store_dir).unwrap();
    let store_root = script_root(&store_dir, &[]);
    let store = Devhost::start(&store_root, &store_dir.join("data"), free_port(), 10).await;

    let (data, port) = (dir.path().join("data"), free_port());
    let root = script_root(dir.path(), &[]);
    apply(&root, &settings("1", &store.url));
    let d = Devhost::start(&root, &data, port, 2).await;
    let res = d
        .request(Method::POST, "/api/IngestJob")
        .header("content-type", "application/json")
        .body(SAMPLE_JOB)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // The 202 names the job in its body and offers no status monitor to poll (README).
    assert!(
        res.headers().get("location").is_none(),
        "{:?}",
        res.headers()
    );
    assert!(res.headers().get("retry-after").is_none());
    let body: Value = res.json().await.unwrap();
    let job_id = body["jobId"].as_str().unwrap().to_owned();
    // Attempt 1 fails and is rescheduled; attempt 2 (the last) fails on delivery 1 and, failing
    // fast, on delivery 2, the queue's last: dead-lettered.
    d.drained(2, Duration::from_secs(60)).await;
    assert_eq!(d.dead_letters().await.len(), 1);
    d.stop().await;

    apply(&root, &settings("0", &store.url));
    let d = Devhost::start(&root, &data, port, 2).await;
    let (code, out, err) = run(jobctl_at(&d, &state, &["dlq", "resubmit", "--all"]));
    assert_eq!(code, 0, "{out}{err}");
    // The copy is active until processed (the dead letter it replaced is gone).
    d.drained(1, Duration::from_secs(60)).await;
    assert!(d.dead_letters().await.is_empty());

    let deadline = Instant::now() + Duration::from_secs(30);
    let timeline = loop {
        let (code, out, err) = run(jobctl_command(
            &state,
            &["--devhost", &store.url, "--json", "job", &job_id],
        ));
        if code == 0 {
            let t: Value = serde_json::from_str(&out).unwrap();
            if t["state"] == "completed" {
                break t;
            }
        }
        assert!(Instant::now() < deadline, "{code} {out} {err}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let events = timeline["events"].as_array().unwrap();
    let steps: Vec<String> = events
        .iter()
        .map(|e| match e["event"].as_str().unwrap() {
            "attempt" => format!(
                "attempt {} delivery {} {}",
                e["attempt"],
                e["deliveryCount"],
                e["outcome"].as_str().unwrap()
            ),
            "rescheduled" => format!("rescheduled as {}", e["nextAttempt"]),
            "deadLettered" => format!("deadLettered {}", e["reason"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(
        steps,
        [
            "ingested",
            "attempt 1 delivery 1 simulated",
            "rescheduled as 2",
            "attempt 2 delivery 1 simulated",
            "attempt 2 delivery 2 exhausted",
            "deadLettered MaxDeliveryCountExceeded",
            "resubmitted",
            "attempt 1 delivery 1 success",
            "completed",
        ],
        "{timeline:#}"
    );
    assert_eq!(
        (
            timeline["tenantId"].as_str(),
            timeline["jobType"].as_str(),
            timeline["resubmissions"].as_u64()
        ),
        (Some("contoso"), Some("report"), Some(1))
    );
    // The reschedule's delay is the one drawn (within the first backoff step), and the copy ran
    // no earlier than scheduled.
    let rescheduled = &events[2];
    let delay = rescheduled["delayMs"].as_i64().unwrap();
    assert!((0..=400).contains(&delay), "{rescheduled}");
    let scheduled_for: chrono::DateTime<chrono::Utc> = rescheduled["scheduledFor"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let second: chrono::DateTime<chrono::Utc> = events[3]["at"].as_str().unwrap().parse().unwrap();
    assert!(second >= scheduled_for, "{timeline:#}");
    for e in events.iter().filter(|e| e["event"] == "attempt") {
        assert!(e["latencyMs"].as_f64().unwrap() >= 0.0);
        if e["outcome"] != "success" {
            assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
        }
    }
    let resubmitted = &events[6];
    assert!(
        resubmitted["from"]
            .as_str()
            .is_some_and(|f| f.starts_with(&job_id)),
        "the dead letter was a backoff copy of this job: {resubmitted}"
    );
    assert!(resubmitted["sequence"].as_i64().is_some(), "{resubmitted}");

    // The same for people.
    let (code, text, _) = run(jobctl_command(
        &state,
        &["--devhost", &store.url, "job", &job_id],
    ));
    assert_eq!(code, 0);
    assert!(
        text.starts_with(&format!(
            "job {job_id} (report, tenant contoso): completed, after 1 resubmission"
        )),
        "{text}"
    );
    assert!(
        text.contains("dead-lettered: MaxDeliveryCountExceeded"),
        "{text}"
    );

    // Bad input: each its own exit code and a message naming what is wrong.
    let (code, _, err) = run(jobctl_command(
        &state,
        &["--devhost", &store.url, "job", "not-a-job"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a job id"), "{err}");
    let unknown = "01936c1e-7b2a-7c3d-9e4f-0123456789ab";
    let (code, _, err) = run(jobctl_command(
        &state,
        &["--devhost", &store.url, "job", unknown],
    ));
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains(&format!("no telemetry of job {unknown}")),
        "{err}"
    );
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = run(jobctl_command(
        &state,
        &["--devhost", &closed, "job", &job_id],
    ));
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains("unreachable") && err.contains(&closed),
        "{err}"
    );
    let (code, _, err) = run(jobctl_command(&state, &["job", &job_id]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--app-id"), "{err}");
}
