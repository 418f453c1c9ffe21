//! `IngestJob` through the real binary, with invocations shaped as the Functions host sends them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Handler, SAMPLE_JOB, http_invocation, res, res_body, strings};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn output_names(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["Outputs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// `POST /api/IngestJob` with `headers` and `body`, as the host invokes it; status and answer.
async fn post(h: &Handler, headers: &[(&str, &str)], body: Option<&str>) -> (u16, Value) {
    let invocation = http_invocation("POST", headers, body);
    h.invoke("IngestJob", &invocation).await
}

/// [`assert_rejected`], and its `detail` names `named`.
fn assert_rejected_naming(
    (status, answer): (u16, Value),
    expected: u16,
    problem_type: &str,
    named: &str,
) -> Value {
    let body = assert_rejected(status, &answer, expected, problem_type);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(named), "{named:?} not in {body}");
    body
}

/// A rejection: invocation succeeded (200), client gets `status` problem+json, nothing enqueued.
fn assert_rejected(status: u16, answer: &Value, expected: u16, problem_type: &str) -> Value {
    assert_eq!(status, 200, "the invocation itself succeeds: {answer}");
    assert_eq!(
        output_names(answer),
        ["res"],
        "a rejected request enqueues nothing: {answer}"
    );
    assert_eq!(res(answer)["statusCode"], json!(expected), "{answer}");
    assert_eq!(
        res(answer)["headers"]["Content-Type"],
        "application/problem+json"
    );
    let body = res_body(answer);
    assert_eq!(
        body["type"],
        format!("urn:resilient-jobs:problem:{problem_type}")
    );
    assert_eq!(body["status"], json!(expected));
    assert_eq!(body["instance"], "/api/IngestJob");
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert!(
        !answer["Logs"].as_array().unwrap().is_empty(),
        "rejections are logged to the invocation"
    );
    body
}

#[tokio::test]
async fn accepts_a_valid_job_with_one_envelope_output() {
    let h = Handler::start(&[]).await;
    let (status, answer) = post(&h, &[JSON], Some(SAMPLE_JOB)).await;
    assert_eq!(status, 200);
    assert_eq!(output_names(&answer), ["job", "res"]);

    let res = res(&answer);
    assert_eq!(res["statusCode"], json!(202));
    assert_eq!(res["headers"]["Content-Type"], "application/json");
    let body = res_body(&answer);
    let job_id = body["jobId"].as_str().unwrap();
    assert_eq!(body["status"], "queued");
    assert!(job_id.parse::<uuid::Uuid>().is_ok(), "{body}");
    // No status monitor to point at (the handler keeps no job status): no Location to poll.
    let headers = res["headers"].as_object().unwrap();
    assert!(
        !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("location") || k.eq_ignore_ascii_case("retry-after")),
        "{headers:?}"
    );
    assert_eq!(res["headers"]["x-correlation-id"], body["correlationId"]);

    // The queue output is a JSON object (never a string: see the base64 trap).
    let env = &answer["Outputs"]["job"];
    assert!(env.is_object(), "envelope must be an object: {env}");
    let mut keys: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "correlationId",
            "envelopeVersion",
            "jobId",
            "jobType",
            "jobVersion",
            "payload",
            "submittedAt",
            "tenantId",
            "traceparent"
        ]
    );
    assert_eq!(env["envelopeVersion"], json!(1));
    assert_eq!(env["jobId"], json!(job_id));
    assert_eq!(env["correlationId"], body["correlationId"]);
    assert_eq!(env["tenantId"], "contoso");
    assert_eq!(
        (env["jobType"].as_str(), env["jobVersion"].as_u64()),
        (Some("report"), Some(1))
    );
    assert_eq!(
        env["payload"],
        json!({"reportName": "daily-sales", "rows": 100})
    );
    assert_eq!(env["submittedAt"], body["submittedAt"]);
    let tp = env["traceparent"].as_str().unwrap();
    assert!(tp.starts_with("00-") && tp.len() == 55, "{tp}");
    assert_eq!(res["headers"]["traceparent"], json!(tp));
    let log = answer["Logs"][0].as_str().unwrap();
    assert!(log.contains(job_id) && log.contains("report"), "{log}");
}

#[tokio::test]
async fn latest_version_is_used_when_none_is_given() {
    let h = Handler::start(&[]).await;
    let job = r#"{"jobType":"report","tenantId":"t1","payload":{"reportName":"r","rows":1,"format":"csv"}}"#;
    let (_, answer) = post(&h, &[JSON], Some(job)).await;
    assert_eq!(res(&answer)["statusCode"], json!(202), "{answer}");
    assert_eq!(answer["Outputs"]["job"]["jobVersion"], json!(2));
}

#[tokio::test]
async fn keeps_the_client_correlation_id_and_trace() {
    let h = Handler::start(&[]).await;
    let client_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let headers = [
        JSON,
        ("x-correlation-id", "order-42"),
        ("traceparent", client_trace),
    ];
    let (_, answer) = post(&h, &headers, Some(SAMPLE_JOB)).await;
    let env = &answer["Outputs"]["job"];
    assert_eq!(env["correlationId"], "order-42");
    let tp = env["traceparent"].as_str().unwrap();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "same trace: {tp}"
    );
    assert_ne!(tp, client_trace, "a new span under the client's");
}

#[tokio::test]
async fn accepts_pre_2020_query_string_and_single_header_values() {
    let h = Handler::start(&[]).await;
    let mut inv = http_invocation("POST", &[], Some(SAMPLE_JOB));
    inv["Data"]["req"]["Query"] = json!("{\"code\":\"abc\"}");
    inv["Data"]["req"]["Headers"] = json!({"content-type": "application/json; charset=utf-8"});
    let (_, answer) = h.invoke("IngestJob", &inv).await;
    assert_eq!(res(&answer)["statusCode"], json!(202), "{answer}");
}

#[tokio::test]
async fn rejects_wrong_method_with_405_and_allow() {
    let h = Handler::start(&[]).await;
    let (status, answer) = h
        .invoke("IngestJob", &http_invocation("GET", &[], None))
        .await;
    assert_rejected(status, &answer, 405, "method-not-allowed");
    assert_eq!(res(&answer)["headers"]["Allow"], "POST");
}

#[tokio::test]
async fn rejects_non_json_content_type_with_415() {
    let h = Handler::start(&[]).await;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let answer = post(&h, &headers, Some(SAMPLE_JOB)).await;
        assert_rejected_naming(answer, 415, "unsupported-media-type", "application/json");
    }
}

#[tokio::test]
async fn rejects_oversized_unparseable_and_empty_bodies() {
    let h = Handler::start(&[]).await;
    let big = format!(
        r#"{{"jobType":"report","tenantId":"t","payload":{{"reportName":"{}","rows":1}}}}"#,
        "x".repeat(256 * 1024)
    );
    for (body, expected, problem, detail) in [
        (Some(big.as_str()), 413, "payload-too-large", "262144"),
        (Some("{\"jobType\": "), 400, "malformed-json", "line 1"),
        (None, 400, "body-required", ""),
    ] {
        let answer = post(&h, &[JSON], body).await;
        assert_rejected_naming(answer, expected, problem, detail);
    }
}

#[tokio::test]
async fn lists_every_violation_with_its_pointer() {
    let h = Handler::start(&[]).await;
    let job = r#"{"jobType":"report","version":2,"tenantId":"","payload":{"rows":-5,"format":"docx","recipients":["not-an-email"]},"priority":9}"#;
    let (status, answer) = post(&h, &[JSON], Some(job)).await;
    let body = assert_rejected(status, &answer, 400, "validation-failed");
    let mut pointers = strings(&body["errors"], "pointer");
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/payload/format",
            "/payload/recipients/0",
            "/payload/reportName",
            "/payload/rows",
            "/priority",
            "/tenantId"
        ]
    );
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["detail"].as_str().is_some_and(|d| !d.is_empty()))
    );
    assert!(body["correlationId"].is_string());
}

#[tokio::test]
async fn unknown_job_types_and_versions_are_violations() {
    let h = Handler::start(&[]).await;
    for (job, pointer) in [
        (
            r#"{"jobType":"transcode","tenantId":"t","payload":{}}"#,
            "/jobType",
        ),
        (
            r#"{"jobType":"report","version":7,"tenantId":"t","payload":{}}"#,
            "/version",
        ),
    ] {
        let (status, answer) = post(&h, &[JSON], Some(job)).await;
        let body = assert_rejected(status, &answer, 400, "validation-failed");
        assert_eq!(body["errors"][0]["pointer"], pointer, "{body}");
        assert!(
            body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("known"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn rejects_an_unusable_correlation_id() {
    let h = Handler::start(&[]).await;
    let long = "c".repeat(129);
    let (status, answer) = post(&h, &[JSON, ("x-correlation-id", &long)], Some(SAMPLE_JOB)).await;
    assert_rejected(status, &answer, 400, "invalid-correlation-id");
}

#[tokio::test]
async fn readiness_and_health() {
    let h = Handler::start(&[]).await;
    let ping = h.client.get(&h.base).send().await.unwrap();
    assert_eq!(ping.status(), 200);
    let health: Value = h.get_json("/healthz").await;
    assert_eq!(health["status"], "ok");
    let types: Vec<String> = health["jobTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}@{}", t["jobType"].as_str().unwrap(), t["version"]))
        .collect();
    assert_eq!(types, ["report@1", "report@2", "thumbnail@1"]);
}

/// Hostile input found by hand: each gets a precise answer, not a guess.
#[tokio::test]
async fn hostile_inputs_get_precise_answers() {
    let h = &Handler::start(&[]).await;
    let post = |ct: &'static str, body: String| {
        let inv = http_invocation("POST", &[("Content-Type", ct)], Some(&body));
        async move { h.invoke("IngestJob", &inv).await }
    };
    let job = |payload: &str, extra: &str| {
        format!(r#"{{"jobType":"report","tenantId":"t"{extra},"payload":{payload}}}"#)
    };
    let payload = r#"{"reportName":"r","rows":1}"#;

    // A wrong version is the only complaint (the payload is not checked against another version).
    for version in [r#""1""#, "-1", "null", "18446744073709551616"] {
        let (status, answer) = post(
            "application/json",
            job(
                r#"{"rows":"not even close"}"#,
                &format!(r#","version":{version}"#),
            ),
        )
        .await;
        let body = assert_rejected(status, &answer, 400, "validation-failed");
        let pointers = strings(&body["errors"], "pointer");
        assert_eq!(pointers, ["/version"], "version {version}: {body}");
    }

    // Duplicate members: never last-wins.
    let answer = post(
        "application/json",
        format!(r#"{{"jobType":"report","tenantId":"a","tenantId":"b","payload":{payload}}}"#),
    )
    .await;
    assert_rejected_naming(answer, 400, "duplicate-member", "/tenantId");

    // Bytes the host could not decode as UTF-8 arrive as U+FFFD.
    let (status, answer) = post(
        "application/json",
        job(
            r#"{"reportName":"caf\ufffd","rows":1}"#.replace("\\ufffd", "\u{FFFD}").as_str(),
            "",
        ),
    )
    .await;
    assert_rejected(status, &answer, 400, "invalid-utf8");
    // Escaped, the same character is fine.
    let v1 = r#","version":1"#;
    let (_, answer) = post(
        "application/json",
        job(r#"{"reportName":"caf\ufffd","rows":1}"#, v1),
    )
    .await;
    assert_eq!(res(&answer)["statusCode"], json!(202), "{answer}");

    // A charset other than UTF-8 is named.
    let answer = post("application/json; charset=utf-16", job(payload, "")).await;
    assert_rejected_naming(answer, 415, "unsupported-charset", "utf-16");

    // Whole numbers written as floats reach the envelope as integers.
    let (_, answer) = post(
        "application/json",
        job(r#"{"reportName":"r","rows":1e2}"#, v1),
    )
    .await;
    assert_eq!(answer["Outputs"]["job"]["payload"]["rows"], json!(100));
    assert!(
        answer["Outputs"]["job"]["payload"]["rows"].is_u64(),
        "{answer}"
    );

    // Thousands of unknown members: the list is capped and the rest counted.
    let members: String = (0..24_000).map(|i| format!(r#","m{i}":0"#)).collect();
    let (status, answer) = post("application/json", job(payload, &format!("{v1}{members}"))).await;
    let body = assert_rejected(status, &answer, 400, "validation-failed");
    assert_eq!(body["errors"].as_array().unwrap().len(), 100);
    assert_eq!(body["omittedErrors"], json!(23_900));
    assert!(res(&answer)["body"].as_str().unwrap().len() < 16 * 1024);
}

/// The Functions host sends an object output as Newtonsoft's indented text, so the 256 KiB check
/// must measure that form: an envelope whose compact JSON is far under the limit but whose
/// indented text (plus the host's message properties) is over it gets 413 at ingest, and one just
/// under is accepted. Measured against the envelope the handler itself outputs.
#[tokio::test]
async fn size_check_measures_the_indented_message_the_host_sends() {
    let types = tempfile::tempdir().unwrap();
    for t in ["report", "thumbnail"] {
        let from = common::repo_root().join("job-types").join(t);
        std::fs::create_dir_all(types.path().join(t)).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), types.path().join(t).join(e.file_name())).unwrap();
        }
    }
    // A report version whose payload may carry a long array (one line per element when indented).
    std::fs::write(
        types.path().join("report/v3.schema.json"),
        r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "required": ["reportName", "rows"],
            "properties": {"reportName": {"type": "string"}, "rows": {"type": "integer"},
                           "cells": {"type": "array", "items": {"type": "integer"}}}}"#,
    )
    .unwrap();
    let dir = types.path().to_string_lossy().into_owned();
    let h = Handler::start(&[
        ("JOB_TYPES_DIR", &dir),
        ("VELOCITY_FLAG_PER_MINUTE", "10000000"),
        ("RATE_LIMIT_CLIENT_BURST", "10000000"),
    ])
    .await;
    let job = |n: usize| {
        let cells = vec!["1"; n].join(",");
        format!(
            r#"{{"jobType":"report","version":3,"tenantId":"t","payload":{{"reportName":"r","rows":1,"cells":[{cells}]}}}}"#
        )
    };
    let submit = |body: String| {
        let h = &h;
        async move {
            let inv = http_invocation(
                "POST",
                &[JSON, ("x-correlation-id", "size-check-0001")],
                Some(&body),
            );
            h.invoke("IngestJob", &inv).await
        }
    };
    // The host's message size for an accepted envelope.
    let host_size = |answer: &Value| {
        wire::newtonsoft::indented_len(&answer["Outputs"]["job"])
            + handler::routes::ingest::HOST_MESSAGE_OVERHEAD
    };
    let (status, small) = submit(job(10)).await;
    assert_eq!(
        (status, res(&small)["statusCode"].clone()),
        (200, json!(202)),
        "{small}"
    );
    // Each further cell adds one indented line: `,\n` + 6 spaces + `1` = 9 bytes.
    let limit = 262_144;
    let fits = 10 + (limit - host_size(&small)) / 9;
    let (_, under) = submit(job(fits - 2)).await;
    assert_eq!(res(&under)["statusCode"], json!(202), "{under}");
    assert!(host_size(&under) <= limit);
    let over_body = job(fits + 2);
    let (status, over) = submit(over_body.clone()).await;
    let problem = assert_rejected(status, &over, 413, "payload-too-large");
    assert!(
        over_body.len() * 3 < limit,
        "the compact form is far under the limit ({} bytes): only the indented form is over",
        over_body.len()
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("indented"),
        "{problem}"
    );
}
