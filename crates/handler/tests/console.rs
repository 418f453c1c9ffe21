//! The console (stdout) log: what reaches it at the default level and what only at `debug`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read as _;
use std::process::Stdio;

use common::{command, http_invocation, sigterm, until_ready};
use serde_json::Value;

const JOB: &str = r#"{"jobType":"report","version":1,"tenantId":"contoso","payload":{"reportName":"daily","rows":1}}"#;

/// Run the handler with `rust_log`, send one job it accepts and one it rejects (with known
/// invocation ids), stop it with SIGTERM (which flushes the log writer) and return its JSON lines.
async fn console_lines(rust_log: &str) -> Vec<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mut cmd, port) = command(&[("RUST_LOG", rust_log)]);
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    until_ready(&client, &base).await;
    for (id, body) in [
        ("inv-accepted", JOB),
        ("inv-rejected", r#"{"jobType":"nope"}"#),
    ] {
        let invocation =
            http_invocation("POST", &[("Content-Type", "application/json")], Some(body));
        let res = client
            .post(format!("{base}/IngestJob"))
            .header("X-Azure-Functions-InvocationId", id)
            .json(&invocation)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn find<'a>(lines: &'a [Value], message: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l["message"] == message)
}

#[tokio::test]
async fn a_success_is_not_repeated_on_the_console_but_a_rejection_is() {
    let lines = console_lines("info").await;
    assert!(find(&lines, "job accepted").is_none(), "{lines:#?}");
    let rejected = find(&lines, "job rejected").expect("the rejection is logged");
    assert_eq!(rejected["level"], "WARN");
    assert_eq!(rejected["invocation_id"], "inv-rejected");
    assert_eq!(rejected["status"], 400);
}

#[tokio::test]
async fn debug_shows_every_accepted_job_with_its_invocation_id() {
    let lines = console_lines("info,handler=debug").await;
    let accepted = find(&lines, "job accepted").expect("the success is logged at debug");
    assert_eq!(accepted["invocation_id"], "inv-accepted");
    assert_eq!(accepted["tenant_id"], "contoso");
    assert!(accepted["job_id"].as_str().is_some_and(|id| id.len() == 36));
}
