//! docs/PARITY.md, "Invocation wire" and "Service Bus output" rows: the real devhost binary hosting
//! `tests/fixtures/pyhandler` (a Python custom handler that is not the project's), over the real
//! wire. Each test says what the Functions host does; the source is cited in PARITY.md and next to
//! the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Devhost, Method, free_port, pyhandler_root, recorded};
use serde_json::{Value, json};

async fn start(dir: &std::path::Path) -> Devhost {
    let root = pyhandler_root(dir, &[]);
    Devhost::start_with(&root, &dir.join("data"), free_port(), &[]).await
}

/// `POST /api/Echo` with the handler told to answer exactly `reply` (status 200, `content_type`).
async fn echo_reply(
    d: &Devhost,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Option<String>, String) {
    let spec = json!({"status": 200, "contentType": content_type, "body": body});
    let res = d.request(Method::POST, "/api/Echo");
    let res = res.header("x-pyh-reply", spec.to_string()).send();
    let res = res.await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ct, res.text().await.unwrap())
}

#[tokio::test]
async fn reply_without_json_content_type_fails_and_names_ignore_case() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let good = r#"{"Outputs":{"res":{"statusCode":201,"body":"ok"}}}"#;
    assert_eq!(echo_reply(&d, Some("application/json"), good).await.0, 201);
    assert_eq!(
        echo_reply(&d, Some("text/json; charset=utf-8"), good)
            .await
            .0,
        201
    );
    for ct in [Some("text/plain"), None, Some("application/problem+json")] {
        let (status, _, body) = echo_reply(&d, ct, good).await;
        assert_eq!(status, 500, "{ct:?}: the host has no formatter for it");
        assert!(body.contains("Invalid HttpResponseMessage"), "{body}");
    }
    // Newtonsoft reads the top-level names ignoring case; output names are exact.
    let lower =
        r#"{"outputs":{"res":{"statusCode":201,"body":"ok"}},"LOGS":["x"],"returnvalue":null}"#;
    assert_eq!(echo_reply(&d, Some("application/json"), lower).await.0, 201);
    let (status, _, body) = echo_reply(
        &d,
        Some("application/json"),
        r#"{"Outputs":{"RES":{"statusCode":201}}}"#,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "{}"),
        "no output named exactly `res`"
    );
}

#[tokio::test]
async fn http_res_rules_are_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let json = Some("application/json");
    let case = |reply: &'static str| {
        let d = &d;
        async move { echo_reply(d, json, reply).await }
    };
    assert_eq!(case(r#"{"Outputs":{}}"#).await.0, 200);
    let (status, _, body) = case(r#"{"Logs":["no outputs"]}"#).await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(
        case(r#"{"Outputs":{"res":{"status":201}}}"#).await.0,
        200,
        "`status` is never read"
    );
    assert_eq!(
        case(r#"{"Outputs":{"res":{"statusCode":"201"}}}"#).await.0,
        201
    );
    assert_eq!(
        case(r#"{"Outputs":{"res":{"statusCode":201.5}}}"#).await.0,
        200
    );
    assert_eq!(
        case(r#"{"Outputs":{"res":"{\"statusCode\":203}"}}"#)
            .await
            .0,
        203
    );
    assert_eq!(case(r#"{"Outputs":{"res":"x"}}"#).await.0, 500);
    let (status, ct, body) = case(r#"{"Outputs":{"res":{"body":{"b":1,"a":true}}}}"#).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(body, "{\n  \"b\": 1,\n  \"a\": true\n}");
    let (_, _, body) = case(r#"{"Outputs":{"res":{"body":true}}}"#).await;
    assert_eq!(body, "True");
}

#[tokio::test]
async fn return_value_binds_to_dollar_return_or_merges_into_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let res = d.call(Method::GET, "/api/ReturnValue").await;
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(res.headers()["content-type"], "text/plain");
    assert_eq!(res.text().await.unwrap(), "ReturnValue via $return");
    let (status, _, body) = echo_reply(
        &d,
        Some("application/json"),
        r#"{"Outputs":{"res":{"statusCode":200,"body":"a"}},"ReturnValue":{"res":{"statusCode":203,"body":"b"}}}"#,
    )
    .await;
    assert_eq!((status, body.as_str()), (203, "b"));
}

/// `Recorded` rows of `Receive` invocations, waiting until there are `n`.
async fn received(d: &Devhost, n: usize) -> Vec<Value> {
    recorded(d, "Receive", n, Duration::from_secs(30)).await
}

/// The message body the handler received (the host double-encodes it).
fn body_of(row: &Value) -> String {
    let raw = row["data"]["msg"].as_str().unwrap();
    serde_json::from_str::<String>(raw).unwrap()
}

/// `POST /api/Send` with raw JSON text (member order matters: the host keeps it).
async fn send(d: &Devhost, body: &str) -> u16 {
    d.post_status("/api/Send", body).await
}

async fn clear(d: &Devhost) {
    d.get_json("/api/Recorded?clear=1").await;
}

#[tokio::test]
async fn service_bus_output_bodies_are_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            r#"{"out": [{"b": 1, "a": {"z": true}}, true, "aGVsbG8=", "plain text", 5, null]}"#,
            vec![
                "{\n  \"b\": 1,\n  \"a\": {\n    \"z\": true\n  }\n}",
                "True",
                "aGVsbG8=",
                "plain text",
                "5",
                "",
            ],
        ),
        (r#"{"out": "[1,2]"}"#, vec!["1", "2"]),
        (r#"{"out": "{\"a\":1}"}"#, vec!["{\n  \"a\": 1\n}"]),
        (r#"{"out": "aGVsbG8="}"#, vec!["System.Byte[]"]),
        (r#"{"out": false}"#, vec!["False"]),
    ];
    for (request, expected) in cases {
        clear(&d).await;
        assert_eq!(send(&d, request).await, 202, "{request}");
        let rows = received(&d, expected.len()).await;
        let mut bodies: Vec<String> = rows.iter().map(body_of).collect();
        let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        bodies.sort();
        want.sort();
        assert_eq!(bodies, want, "{request}");
        let sender = d
            .get_json("/api/Recorded?event=invocation&function=Send")
            .await;
        let sender_id = sender[0]["invocationId"].clone();
        for row in &rows {
            assert_eq!(row["metadata"]["ContentType"], json!("\"text/plain\""));
            assert_eq!(
                row["metadata"]["ApplicationProperties"]["$AzureWebJobsParentId"], sender_id,
                "{row}"
            );
        }
    }
    // Text that looks like JSON but is not fails the invocation: nothing is sent.
    clear(&d).await;
    assert_eq!(send(&d, r#"{"out": "{oops}"}"#).await, 500);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received(&d, 0).await.len(), 0);
}

#[tokio::test]
async fn body_fields_shadow_trigger_metadata_as_the_host_converts_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let body = r#"{"out": {"deliveryCount": 7, "correlationId": "c", "flag": true,
                           "arr": [1], "obj": {"x": 1}, "nul": null, "n": 2.5}}"#;
    assert_eq!(send(&d, body).await, 202);
    let row = &received(&d, 1).await[0];
    let md = row["metadata"].as_object().unwrap();
    assert_eq!(md["DeliveryCount"], json!("\"7\""), "{row}");
    assert!(
        !md.contains_key("deliveryCount"),
        "the trigger's spelling stays"
    );
    assert_eq!(md["CorrelationId"], json!("\"c\""));
    assert_eq!(md["flag"], json!("\"True\""));
    assert_eq!(md["n"], json!("\"2.5\""));
    assert_eq!(md["obj"], json!({"x": 1}));
    assert!(!md.contains_key("arr") && !md.contains_key("nul"));
    // The HTTP twin: a JSON request body's fields, converted the same way.
    let echo = d
        .post_json(
            "/api/Echo?q=1&q=2",
            &[],
            &json!({"n": 2, "flag": true, "arr": [1]}),
        )
        .await;
    let md = echo["metadata"].as_object().unwrap();
    assert_eq!(md["n"], json!("\"2\""));
    assert_eq!(md["flag"], json!("\"True\""));
    assert!(!md.contains_key("arr"));
    assert_eq!(md["q"], json!("\"2\""), "binding data takes the last value");
}

#[tokio::test]
async fn route_templates_match_and_fill_params() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()).await;
    let get = |path: &'static str| {
        let d = &d;
        async move {
            let res = d.call(Method::GET, path).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (status, echo) = get("/API/ITEMS/5").await;
    assert_eq!(status, 200);
    assert_eq!(echo["data"]["req"]["Params"], json!({"id": "5"}));
    assert_eq!(echo["metadata"]["id"], json!("\"5\""));
    assert_eq!(get("/api/items/x").await.0, 404, "{{id:int}}");
    let (_, echo) = get("/api/files/a/b/c.txt").await;
    assert_eq!(echo["data"]["req"]["Params"], json!({"rest": "a/b/c.txt"}));
    let (_, echo) = get("/api/opt").await;
    assert_eq!(echo["data"]["req"]["Params"], json!({"name": null}));
    assert!(
        echo["metadata"].get("name").is_none(),
        "null route values are dropped"
    );
    let (_, echo) = get("/api/opt/bob").await;
    assert_eq!(echo["data"]["req"]["Params"], json!({"name": "bob"}));
    let (_, echo) = get("/api/Echo").await;
    assert_eq!(echo["data"]["req"]["Params"], json!({}));
}
