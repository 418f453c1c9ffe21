//! Invocation bodies exactly as the Functions host builds them (see `crates/wire` and
//! /work/shared/ARCHITECTURE.md "Invocation request"), and readers of the handler's answer.

use serde_json::{Value, json};

/// An HTTP-trigger invocation of `IngestJob` exactly as the host builds it: headers as arrays
/// (plus `Host`), body as a string (absent when `None`), `Metadata` with `Query`, `Headers`, `sys`.
pub fn http_invocation(method: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut hdrs = serde_json::Map::new();
    for (k, v) in headers {
        hdrs.insert((*k).to_owned(), json!([v]));
    }
    hdrs.insert("Host".into(), json!(["localhost:7071"]));
    let mut req = json!({
        "Url": "http://localhost:7071/api/IngestJob",
        "Method": method,
        "Query": {},
        "Headers": hdrs,
        "Params": {},
        "Identities": [{"AuthenticationType": null, "IsAuthenticated": false, "Claims": []}],
    });
    if let Some(b) = body {
        req["Body"] = json!(b);
    }
    json!({
        "Data": {"req": req},
        "Metadata": {
            "Query": {},
            "Headers": hdrs,
            "sys": {"MethodName": "IngestJob", "UtcNow": "2026-11-24T10:00:00.000Z", "RandGuid": "5d2f7c36-7c6b-4d6f-9a8e-1f0f2a3b4c5d"}
        }
    })
}

/// The `IngestJob` invocation for a client's `POST` of `job` (JSON, from 127.0.0.1).
pub fn ingest_invocation(job: &str) -> Value {
    http_invocation(
        "POST",
        &[
            ("Content-Type", "application/json"),
            ("User-Agent", "test-client"),
            ("X-Forwarded-For", "127.0.0.1"),
        ],
        Some(job),
    )
}

/// A Service Bus trigger invocation exactly as the host builds it for `dataType` string: the body
/// serialised once more and sent as a JSON string; metadata scalars as JSON text in strings.
pub fn sb_invocation(body_text: &str, delivery_count: u32, message_id: &str) -> Value {
    let double_encoded = Value::String(body_text.to_owned()).to_string();
    json!({
        "Data": {"msg": double_encoded},
        "Metadata": {
            "MessageId": format!("\"{message_id}\""),
            "DeliveryCount": delivery_count.to_string(),
            "SequenceNumber": "17",
            "EnqueuedTimeUtc": "\"2026-11-24T10:00:00Z\"",
            "ExpiresAtUtc": "\"2026-12-08T10:00:00Z\"",
            "LockToken": "\"0f4b7c1e-8a1d-4d55-9c55-2f7f1e7a9b10\"",
            "ContentType": "\"application/json\"",
            "ApplicationProperties": {},
            "UserProperties": {},
            "sys": {"MethodName": "ProcessJob", "UtcNow": "2026-11-24T10:00:01.000Z", "RandGuid": "0b0c0d0e-0000-4000-8000-000000000000"}
        }
    })
}

/// The HTTP response a client would get: `Outputs.res`.
pub fn res(answer: &Value) -> &Value {
    &answer["Outputs"]["res"]
}

/// `Outputs.res.body` parsed as JSON.
pub fn res_body(answer: &Value) -> Value {
    serde_json::from_str(res(answer)["body"].as_str().expect("res.body is a string"))
        .expect("res.body is JSON")
}
