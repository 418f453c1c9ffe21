//! The sample jobs (the README's, and one per job type version in `job-types/`) and a job
//! envelope as `IngestJob` puts it on the queue.

use serde_json::{Value, json};

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

/// The sample job from the README.
pub const SAMPLE_JOB: &str = SAMPLE_JOBS[0].2;

/// The envelope `IngestJob` would enqueue for [`SAMPLE_JOB`] (fixed ids, a sampled trace), as a
/// producer other than the handler would send it.
pub fn sample_envelope(job_id: &str, correlation_id: &str) -> Value {
    json!({
        "envelopeVersion": 1,
        "jobId": job_id,
        "correlationId": correlation_id,
        "tenantId": "contoso",
        "jobType": "report",
        "jobVersion": 1,
        "payload": {"reportName": "daily-sales", "rows": 100},
        "submittedAt": "2026-12-01T17:00:00.000Z",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    })
}
