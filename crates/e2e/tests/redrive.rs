//! Dead-letter triage and redrive through the real binaries: the devhost (with the real handler)
//! and `jobctl`: `dlq summary` grouping, a `--rate` redrive interrupted by SIGINT and resumed
//! (every dead letter resubmitted exactly once, no lock left behind), `--all` over poison
//! messages ending after one pass with MessageIds that do not grow, and `--id` that matches
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Devhost, free_port, jobctl_at, jobctl_binary, jobctl_json, run, script_root, wait,
    write_settings,
};
use serde_json::{Value, json};

/// Send a raw message over the REST API.
async fn send(d: &Devhost, body: &str, headers: &[(&str, &str)]) {
    let mut req = d
        .client
        .post(format!("{}/servicebus/jobs/messages", d.url))
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    assert_eq!(req.send().await.unwrap().status(), 201);
}

fn job(job_type: &str, tenant: &str) -> String {
    let payload = match job_type {
        "report" => json!({"reportName": "daily", "rows": 10}),
        _ => json!({"imageUrl": "https://example.com/a.png", "width": 64, "height": 64}),
    };
    json!({"jobType": job_type, "version": 1, "tenantId": tenant, "payload": payload}).to_string()
}

async fn counter(d: &Devhost, name: &str) -> u64 {
    d.queue("jobs").await[name].as_u64().unwrap_or(0)
}

const FAILING: [(&str, &str); 3] = [
    ("CHAOS_FAILURE_RATE", "1"),
    ("RETRY_BACKOFF", "off"),
    ("PROCESSING_DELAY_MS", "0"),
];
const HEALTHY: [(&str, &str); 3] = [
    ("CHAOS_FAILURE_RATE", "0"),
    ("RETRY_BACKOFF", "off"),
    ("PROCESSING_DELAY_MS", "0"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_groups_dead_letters_by_cause_and_unknown_ids_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("data"), dir.path().join("state"));
    let root = script_root(dir.path(), &FAILING);
    let port = free_port();
    // Dead-lettered after 2 deliveries: 3 report jobs of t0, 2 thumbnail jobs of t1, 2 bodies
    // that are not JSON.
    let d = Devhost::start(&root, &data, port, 2).await;
    for (t, tenant) in [("report", "t0"), ("report", "t0"), ("thumbnail", "t1")] {
        assert_eq!(d.submit(&job(t, tenant)).await.unwrap().0, 202);
    }
    send(&d, "not an envelope", &[]).await;
    d.drained(4, Duration::from_secs(30)).await;
    d.stop().await;
    // The same causes again after 3 deliveries: a different description ("after 3 delivery
    // attempts") that must fall into the same groups.
    let d = Devhost::start(&root, &data, port, 3).await;
    for (t, tenant) in [("report", "t0"), ("thumbnail", "t1")] {
        assert_eq!(d.submit(&job(t, tenant)).await.unwrap().0, 202);
    }
    send(&d, "{ still not json", &[]).await;
    d.drained(7, Duration::from_secs(30)).await;
    let descriptions: BTreeSet<String> = d
        .dead_letters()
        .await
        .iter()
        .map(|l| l["description"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(descriptions.len(), 2, "{descriptions:?}");

    let s = jobctl_json(&d, &state, &["dlq", "summary"]);
    assert_eq!(
        (s["total"].as_u64(), s["complete"].as_bool()),
        (Some(7), Some(true)),
        "{s}"
    );
    let groups: Vec<(u64, String, String, String)> = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert!(g["oldest"].as_str() <= g["newest"].as_str(), "{g}");
            assert!(g["hour"].as_str().unwrap().ends_with(":00:00Z"), "{g}");
            (
                g["count"].as_u64().unwrap(),
                g["reason"].as_str().unwrap().to_owned(),
                g["jobType"].as_str().unwrap().to_owned(),
                g["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let error = "Message could not be consumed after <n> delivery attempts.";
    let group = |n: u64, t: &str| -> (u64, String, String, String) {
        (n, "MaxDeliveryCountExceeded".into(), t.into(), error.into())
    };
    // The hour is part of the key: a run across the top of an hour may split a group in two.
    if s["groups"].as_array().unwrap().len() == 3 {
        assert_eq!(
            groups,
            [
                group(3, "report"),
                group(2, "(not JSON)"),
                group(2, "thumbnail")
            ]
        );
    }
    let by_type = |t: &str| -> u64 { groups.iter().filter(|g| g.2 == t).map(|g| g.0).sum() };
    assert_eq!(
        (
            by_type("report"),
            by_type("thumbnail"),
            by_type("(not JSON)")
        ),
        (3, 2, 2)
    );
    // Filters narrow the summary; the table is one line per group plus a total.
    let t1 = jobctl_json(&d, &state, &["dlq", "summary", "--tenant", "t1"]);
    assert_eq!(t1["total"], 2, "{t1}");
    let (code, table, _) = run(jobctl_at(&d, &state, &["dlq", "summary"]));
    assert_eq!(code, 0);
    assert!(table.starts_with("COUNT  REASON"), "{table}");
    assert!(
        table.trim_end().ends_with("7 dead letter(s) in 3 group(s)") || groups.len() > 3,
        "{table}"
    );
    // Reading them all left every one unlocked: a second summary sees all again.
    assert_eq!(jobctl_json(&d, &state, &["dlq", "summary"])["total"], 7);

    // An id that matches nothing: its own exit code, and nothing changes.
    let (code, stdout, stderr) = run(jobctl_at(
        &d,
        &state,
        &["dlq", "resubmit", "--id", "999999"],
    ));
    assert_eq!(code, 4, "{stdout} {stderr}");
    assert!(
        stderr.contains("999999") && stderr.contains("nothing was resubmitted"),
        "{stderr}"
    );
    let first = d.dead_letters().await[0]["sequenceNumber"].to_string();
    let (code, _, stderr) = run(jobctl_at(
        &d,
        &state,
        &["dlq", "resubmit", "--id", &first, "--id", "999999"],
    ));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("999999") && !stderr.contains(&format!("{first},")),
        "{stderr}"
    );
    assert_eq!(d.dead_letters().await.len(), 7, "nothing was resubmitted");
    // The exit codes are in --help.
    let help = Command::new(jobctl_binary())
        .args(["dlq", "resubmit", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("4    an --id matched no dead letter"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmit_all_over_poison_handles_each_dead_letter_once() {
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("data"), dir.path().join("state"));
    let root = script_root(dir.path(), &FAILING);
    let d = Devhost::start(&root, &data, free_port(), 2).await;
    const POISON: u64 = 150;
    for i in 0..POISON {
        let id = format!(r#"{{"MessageId":"poison-{i}"}}"#);
        send(&d, "not an envelope", &[("BrokerProperties", &id)]).await;
    }
    d.drained(POISON, Duration::from_secs(120)).await;
    let enqueued = counter(&d, "enqueued").await;

    // Every copy dead-letters again within moments: the run still takes each dead letter once.
    let first = jobctl_json(&d, &state, &["dlq", "resubmit", "--all"]);
    assert_eq!(
        (first["planned"].as_u64(), first["resubmitted"].as_u64()),
        (Some(POISON), Some(POISON)),
        "{}",
        first["planned"]
    );
    assert_eq!(first["missing"], 0);
    assert_eq!(
        counter(&d, "enqueued").await - enqueued,
        POISON,
        "one copy each"
    );
    // (A deleted dead letter counts nowhere: the copies make the dead-letter count again.)
    d.drained(POISON, Duration::from_secs(120)).await;
    let ids = |letters: &[Value]| -> BTreeSet<String> {
        letters
            .iter()
            .map(|l| l["messageId"].as_str().unwrap().to_owned())
            .collect()
    };
    let pass1 = ids(&d.dead_letters().await);
    assert_eq!(pass1.len() as u64, POISON);
    for id in &pass1 {
        let (original, seq) = id.split_once("/r").unwrap();
        assert!(
            original.starts_with("poison-") && seq.parse::<u64>().is_ok(),
            "{id}"
        );
    }

    // A second pass: the ids keep one suffix (the sequence number changes, nothing is appended).
    // Not on a terminal: no progress on stderr, the summary on stdout.
    let (code, second, stderr) = run(jobctl_at(&d, &state, &["dlq", "resubmit", "--all"]));
    assert_eq!((code, stderr.as_str()), (0, ""), "{second}");
    assert!(
        second.starts_with(&format!(
            "resubmitted {POISON} dead letter(s); 0 not selected"
        )),
        "{second}"
    );
    d.drained(POISON, Duration::from_secs(120)).await;
    let pass2 = ids(&d.dead_letters().await);
    assert!(pass2.is_disjoint(&pass1));
    for id in &pass2 {
        assert_eq!(id.matches("/r").count(), 1, "{id}");
        assert!(id.len() <= "poison-149/r".len() + 6, "{id}");
    }
    // Each copy names its origin.
    let letter = &d.dead_letters().await[0];
    assert!(
        letter["messageId"].as_str().unwrap().starts_with("poison-"),
        "{letter}"
    );
    assert_eq!(counter(&d, "enqueued").await - enqueued, 2 * POISON);
    let state_files: Vec<_> = std::fs::read_dir(&state).unwrap().collect();
    assert!(
        state_files.is_empty(),
        "a completed run removes its checkpoint"
    );

    // On a terminal (a pseudo-terminal from util-linux `script`): a progress bar with counts,
    // rate and ETA while it runs, then the same summary.
    let command = format!(
        "{} --endpoint {}/servicebus dlq resubmit --all --rate 50/s",
        jobctl_binary().display(),
        d.url
    );
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("JOBCTL_STATE_DIR", &state)
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait(out, Duration::from_secs(120));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{screen}");
    assert!(
        screen.contains(&format!("/{POISON} resubmitted")),
        "{screen}"
    );
    assert!(screen.contains("ETA"), "{screen}");
    assert!(
        screen.contains(&format!("resubmitted {POISON} dead letter(s)")),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rate_limited_redrive_resumes_and_resubmits_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("data"), dir.path().join("state"));
    let checkpoint = dir.path().join("redrive.jsonl");
    let root = script_root(dir.path(), &FAILING);
    let port = free_port();
    let d = Devhost::start(&root, &data, port, 2).await;
    const JOBS: u64 = 30;
    for i in 0..JOBS {
        let tenant = if i % 3 == 0 { "t0" } else { "t1" };
        assert_eq!(d.submit(&job("report", tenant)).await.unwrap().0, 202);
    }
    d.drained(JOBS, Duration::from_secs(60)).await;
    d.stop().await;
    // The fault is fixed: resubmitted copies complete.
    write_settings(&root, &HEALTHY);
    let d = Devhost::start(&root, &data, port, 2).await;
    let enqueued = counter(&d, "enqueued").await;

    // --tenant t1 --rate 4/s, interrupted with SIGINT once a few are done.
    let cp = checkpoint.to_str().unwrap();
    let args = [
        "--json",
        "dlq",
        "resubmit",
        "--tenant",
        "t1",
        "--rate",
        "4/s",
        "--checkpoint",
        cp,
    ];
    let started = Instant::now();
    let child = jobctl_at(&d, &state, &args).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&checkpoint)
        .map(|t| t.matches("\"done\"").count())
        .unwrap_or(0)
        < 4
    {
        assert!(Instant::now() < deadline, "no progress in the checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = wait(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    let part: Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned = part["planned"].as_u64().unwrap();
    let done = part["resubmitted"].as_u64().unwrap();
    assert_eq!(planned, 20, "{part}");
    assert!((4..planned).contains(&done), "{part}");
    assert_eq!(part["remaining"].as_u64(), Some(planned - done));
    assert_eq!(part["checkpoint"], cp);
    // The token bucket: n sends need at least (n - 1) / rate seconds.
    assert!(started.elapsed() >= Duration::from_secs_f64((done - 1) as f64 / 4.0));

    // Nothing stayed locked: every dead letter left can be read at once.
    let peeked = jobctl_json(&d, &state, &["dlq", "peek", "--max", "100"]);
    assert_eq!(peeked.as_array().unwrap().len() as u64, JOBS - done);

    // A crash between a send and its checkpoint step leaves a copy on the queue and the dead
    // letter marked sent: play that for one planned dead letter (send its copy as the run
    // would have, then write the step); the resumed run must delete it without a second copy.
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let done_seqs: BTreeSet<i64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["done"].as_i64())
        .collect();
    let crashed = header["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seq"].as_i64().unwrap())
        .find(|s| !done_seqs.contains(s))
        .unwrap();
    let letter = d
        .dead_letters()
        .await
        .into_iter()
        .find(|l| l["sequenceNumber"].as_i64() == Some(crashed))
        .unwrap();
    let broker =
        json!({"MessageId": format!("{}/r{crashed}", letter["messageId"].as_str().unwrap())});
    send(
        &d,
        letter["body"].as_str().unwrap(),
        &[
            ("BrokerProperties", &broker.to_string()),
            ("Content-Type", "application/json"),
        ],
    )
    .await;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&checkpoint)
        .unwrap();
    std::io::Write::write_all(&mut f, format!("{{\"sent\":{crashed}}}\n").as_bytes()).unwrap();
    drop(f);

    // The same command resumes from the checkpoint and finishes the plan.
    let (code, stdout, stderr) = run(jobctl_at(&d, &state, &args));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming the redrive"), "{stderr}");
    let rest: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rest["resumed"], true);
    assert_eq!(rest["previouslyDone"].as_u64(), Some(done));
    assert_eq!(rest["resubmitted"].as_u64(), Some(planned - done));
    assert_eq!(rest["completedWithoutResend"].as_u64(), Some(1), "{rest}");
    assert_eq!(
        (rest["remaining"].as_u64(), rest["missing"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        !checkpoint.exists(),
        "a completed run removes its checkpoint"
    );

    // Exactly once: one copy per selected dead letter, all completed; t0's stay dead.
    let q = d.drained(planned, Duration::from_secs(60)).await;
    assert_eq!(counter(&d, "enqueued").await - enqueued, planned, "{q}");
    assert_eq!(q["completed"].as_u64(), Some(planned), "{q}");
    let left = d.dead_letters().await;
    assert_eq!(left.len() as u64, JOBS - planned);
    // A re-run finds nothing more for t1.
    let again = jobctl_json(&d, &state, &["dlq", "resubmit", "--tenant", "t1"]);
    assert_eq!(
        (again["planned"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(10))
    );
}
