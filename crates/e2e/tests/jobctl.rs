//! The operator CLI (`jobctl`) against the real devhost: queue counts, dead-letter peek,
//! resubmit (dry run, by id, by filter) and purge, with tables and `--json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    Devhost, SAMPLE_JOB, counts, free_port, jobctl_at, jobctl_json, run, script_root,
    write_settings,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_resubmit_and_purge_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("data"), dir.path().join("state"));
    // Every attempt fails, broker redelivery only: each job is dead-lettered after 2 deliveries.
    let failing = [("CHAOS_FAILURE_RATE", "1"), ("RETRY_BACKOFF", "off")];
    let root = script_root(dir.path(), &failing);
    let port = free_port();
    let d = Devhost::start(&root, &data, port, 2).await;
    let mut job_ids = Vec::new();
    for _ in 0..3 {
        let (status, body) = d.submit(SAMPLE_JOB).await.unwrap();
        assert_eq!(status, 202);
        job_ids.push(body["jobId"].as_str().unwrap().to_owned());
    }
    d.drained(3, Duration::from_secs(30)).await;

    let queues = jobctl_json(&d, &state, &["queues"]);
    assert_eq!(queues[0]["queue"], "jobs");
    assert_eq!(queues[0]["deadLetter"], 3, "{queues}");

    // Peek shows every dead letter and leaves them in place.
    let peeked = jobctl_json(&d, &state, &["dlq", "peek", "--max", "10"]);
    let rows = peeked.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{peeked}");
    for row in rows {
        assert_eq!(row["reason"], "MaxDeliveryCountExceeded");
        assert_eq!(row["deliveryCount"], 2);
        assert!(row["enqueuedTime"].is_string());
        let body = row["body"].as_str().unwrap();
        assert!(job_ids.iter().any(|j| body.contains(j.as_str())), "{body}");
    }
    let (code, table, _) = run(jobctl_at(&d, &state, &["dlq", "peek", "--max", "1"]));
    assert_eq!(code, 0);
    assert!(table.starts_with("SEQ"), "{table}");
    assert_eq!(table.lines().count(), 2, "{table}");
    assert_eq!(jobctl_json(&d, &state, &["queues"])[0]["deadLetter"], 3);

    // A dry run changes nothing.
    let first = rows[0]["sequenceNumber"].to_string();
    let dry = jobctl_json(
        &d,
        &state,
        &["dlq", "resubmit", "--id", &first, "--dry-run"],
    );
    assert_eq!(
        (
            dry["dryRun"].as_bool(),
            dry["selected"].as_array().unwrap().len()
        ),
        (Some(true), 1)
    );
    assert_eq!(dry["skipped"], 2);
    assert_eq!(jobctl_json(&d, &state, &["queues"])[0]["deadLetter"], 3);
    d.stop().await;

    // The fault is fixed; resubmit one by id, then the rest by filter: all complete.
    write_settings(
        &root,
        &[("CHAOS_FAILURE_RATE", "0"), ("RETRY_BACKOFF", "off")],
    );
    let d = Devhost::start(&root, &data, port, 2).await;
    let one = jobctl_json(&d, &state, &["dlq", "resubmit", "--id", &first]);
    assert_eq!(one["selected"].as_array().unwrap().len(), 1, "{one}");
    // A deleted dead letter counts nowhere: one completed copy, two dead letters left.
    d.drained(3, Duration::from_secs(30)).await;
    let (code, text, _) = run(jobctl_at(
        &d,
        &state,
        &[
            "dlq",
            "resubmit",
            "--filter",
            "reason=maxdeliverycountexceeded",
        ],
    ));
    assert_eq!(code, 0);
    assert!(
        text.starts_with("resubmitted 2 dead letter(s); 0 not selected"),
        "{text}"
    );
    let q = d.drained(3, Duration::from_secs(30)).await;
    assert_eq!(counts(&q, ["completed", "deadLettered"]), [3, 0], "{q}");

    // Purge: refused without a terminal or --yes; deletes with --yes.
    let poison = d
        .post("/servicebus/jobs/messages", None, "not an envelope")
        .await;
    assert_eq!(poison.status(), 201);
    d.drained(4, Duration::from_secs(30)).await;
    let (code, _, stderr) = run(jobctl_at(&d, &state, &["dlq", "purge"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert_eq!(
        jobctl_json(&d, &state, &["dlq", "purge", "--yes"])["deleted"],
        1
    );
    assert_eq!(jobctl_json(&d, &state, &["queues"])[0]["deadLetter"], 0);

    // Precise errors.
    let (code, _, stderr) = run(jobctl_at(&d, &state, &["--queue", "nope", "queues"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("nope does not exist"), "{stderr}");
    let (code, _, stderr) = run(jobctl_at(
        &d,
        &state,
        &["dlq", "resubmit", "--filter", "colour=red"],
    ));
    assert_eq!(code, 2);
    assert!(stderr.contains("colour"), "{stderr}");
}
