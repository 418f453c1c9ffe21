//! Request bodies exactly as the Functions host sends them (see `crates/wire`), for the load
//! generator, the baseline and the micro-benchmarks.

use chrono::Utc;
use jobs::{JobEnvelope, TraceContext, ValidatedJob};
use serde_json::{Value, json};
use uuid::Uuid;

/// One sample submission per job type version in `job-types/`: `(jobType, version, body)`.
pub const SAMPLE_JOBS: [(&str, u32, &str); 3] = [
    (
        "report",
        1,
        r#"{"jobType":"report","version":1,"tenantId":"contoso","payload":{"reportName":"daily-sales","rows":100}}"#,
    ),
    (
        "report",
        2,
        r#"{"jobType":"report","version":2,"tenantId":"contoso","payload":{"reportName":"daily-sales","rows":100,"format":"csv","recipients":["ops@contoso.example","finance@contoso.example"]}}"#,
    ),
    (
        "thumbnail",
        1,
        r#"{"jobType":"thumbnail","version":1,"tenantId":"fabrikam","payload":{"imageUrl":"https://images.fabrikam.example/cat.png","width":256,"height":256}}"#,
    ),
];

/// The job the end-to-end and hot-path runs submit (the README's sample).
pub const SAMPLE_JOB: &str = SAMPLE_JOBS[0].2;

/// An `IngestJob` invocation as the host builds it for a `POST` of `job`: headers as arrays, the
/// body as a string, `Metadata` with `Query`, `Headers` and `sys`.
pub fn ingest_invocation(job: &str) -> Value {
    let headers = json!({
        "Content-Type": ["application/json"],
        "Host": ["localhost:7071"],
        "User-Agent": ["bench"],
        "X-Forwarded-For": ["127.0.0.1"],
    });
    json!({
        "Data": {"req": {
            "Url": "http://localhost:7071/api/IngestJob",
            "Method": "POST",
            "Query": {},
            "Headers": headers,
            "Params": {},
            "Identities": [{"AuthenticationType": null, "IsAuthenticated": false, "Claims": []}],
            "Body": job,
        }},
        "Metadata": {
            "Query": {},
            "Headers": headers,
            "sys": {"MethodName": "IngestJob", "UtcNow": "2026-11-24T10:00:00.000Z", "RandGuid": "5d2f7c36-7c6b-4d6f-9a8e-1f0f2a3b4c5d"},
        },
    })
}

/// A job envelope for the README's sample job, as `IngestJob` would enqueue it.
pub fn sample_envelope() -> JobEnvelope {
    let job = ValidatedJob {
        tenant_id: "contoso".into(),
        job_type: "report".into(),
        job_version: 1,
        payload: json!({"reportName": "daily-sales", "rows": 100}),
    };
    JobEnvelope::new(
        Uuid::now_v7(),
        job,
        Uuid::new_v4().to_string(),
        &TraceContext::new_root(),
        Utc::now(),
    )
}

/// A `ProcessJob` invocation as the host builds it for a message whose body is `body`: the body
/// serialised once more (a JSON string), metadata scalars as JSON text.
pub fn process_invocation(body: &str, delivery_count: u32) -> Value {
    let double_encoded = Value::String(body.to_owned()).to_string();
    json!({
        "Data": {"msg": double_encoded},
        "Metadata": {
            "MessageId": "\"0190c3a4-5b6c-7d8e-9f00-112233445566\"",
            "DeliveryCount": delivery_count.to_string(),
            "SequenceNumber": "17",
            "EnqueuedTimeUtc": "\"2026-11-24T10:00:00Z\"",
            "ExpiresAtUtc": "\"2026-12-08T10:00:00Z\"",
            "LockToken": "\"0f4b7c1e-8a1d-4d55-9c55-2f7f1e7a9b10\"",
            "ContentType": "\"application/json\"",
            "ApplicationProperties": {},
            "UserProperties": {},
            "sys": {"MethodName": "ProcessJob", "UtcNow": "2026-11-24T10:00:01.000Z", "RandGuid": "0b0c0d0e-0000-4000-8000-000000000000"},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::InvocationRequest;

    #[test]
    fn fixtures_decode_through_the_wire_layer() {
        let req: InvocationRequest = serde_json::from_value(ingest_invocation(SAMPLE_JOB)).unwrap();
        let http = req.http_trigger("req").unwrap();
        assert_eq!(http.body.as_deref(), Some(SAMPLE_JOB));
        let envelope = serde_json::to_string(&sample_envelope()).unwrap();
        let req: InvocationRequest =
            serde_json::from_value(process_invocation(&envelope, 1)).unwrap();
        let msg = req.service_bus_trigger("msg").unwrap();
        assert_eq!(msg.metadata.delivery_count, Some(1));
        assert!(JobEnvelope::parse(&msg.body).is_ok());
    }
}
