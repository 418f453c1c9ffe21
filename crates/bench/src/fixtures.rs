//! Request bodies exactly as the Functions host sends them (see `crates/wire`), for the load
//! generator, the baseline and the micro-benchmarks: the tests' own (crates/test-support), plus a
//! job envelope built through the job domain.

use chrono::Utc;
use jobs::{JobEnvelope, TraceContext, ValidatedJob};
use serde_json::{Value, json};
use test_support::invocation::sb_invocation;
use uuid::Uuid;

pub use test_support::invocation::ingest_invocation;
pub use test_support::samples::{SAMPLE_JOB, SAMPLE_JOBS};

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
    sb_invocation(body, delivery_count, "0190c3a4-5b6c-7d8e-9f00-112233445566")
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
