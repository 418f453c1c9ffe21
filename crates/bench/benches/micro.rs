//! In-process micro-benchmarks of the handler's hot-path building blocks.
//! `cargo bench -p bench --bench micro` (criterion; results under `target/criterion`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bench::fixtures::{
    SAMPLE_JOB, SAMPLE_JOBS, ingest_invocation, process_invocation, sample_envelope,
};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use jobs::submission::validate_submission;
use jobs::{JobEnvelope, JobTypeRegistry, SchemaSource, TraceContext};
use uuid::Uuid;
use wire::{HttpResponseData, InvocationRequest, InvocationResponse};

/// The shipped job types, as the handler loads them from `job-types/`.
fn registry() -> JobTypeRegistry {
    let schema = |name, version, text| SchemaSource {
        name,
        version,
        text,
    };
    JobTypeRegistry::from_schemas([
        schema(
            "report",
            1,
            include_str!("../../../job-types/report/v1.schema.json"),
        ),
        schema(
            "report",
            2,
            include_str!("../../../job-types/report/v2.schema.json"),
        ),
        schema(
            "thumbnail",
            1,
            include_str!("../../../job-types/thumbnail/v1.schema.json"),
        ),
    ])
    .expect("job-types/ compiles")
}

fn envelope(c: &mut Criterion) {
    let registry = registry();
    let job = validate_submission(SAMPLE_JOB.as_bytes(), &registry).unwrap();
    let trace = TraceContext::new_root();
    c.bench_function("envelope/build+serialise", |b| {
        b.iter(|| {
            let env = JobEnvelope::new(
                Uuid::now_v7(),
                black_box(job.clone()),
                "0b7c5bd4-5b7e-4c8e-a7a5-4c9d7a1e2f30".to_owned(),
                &trace.child(),
                Utc::now(),
            );
            serde_json::to_vec(&env).unwrap()
        });
    });
    let text = serde_json::to_string(&sample_envelope()).unwrap();
    c.bench_function("envelope/parse", |b| {
        b.iter(|| JobEnvelope::parse(black_box(&text)).unwrap());
    });
}

fn validation(c: &mut Criterion) {
    let registry = registry();
    for (name, version, body) in SAMPLE_JOBS {
        c.bench_function(&format!("validate/{name}-v{version}"), |b| {
            b.iter(|| validate_submission(black_box(body.as_bytes()), &registry).unwrap());
        });
    }
    let invalid = r#"{"jobType":"report","version":2,"tenantId":"contoso","payload":{"reportName":"","rows":-1,"format":"doc","extra":true}}"#;
    c.bench_function("validate/report-v2-invalid", |b| {
        b.iter(|| validate_submission(black_box(invalid.as_bytes()), &registry).unwrap_err());
    });
}

fn invocation(c: &mut Criterion) {
    let http = ingest_invocation(SAMPLE_JOB).to_string();
    c.bench_function("invocation/parse-http", |b| {
        b.iter(|| {
            let req: InvocationRequest = serde_json::from_str(black_box(&http)).unwrap();
            req.http_trigger("req").unwrap()
        });
    });
    let envelope = serde_json::to_string(&sample_envelope()).unwrap();
    let sb = process_invocation(&envelope, 3).to_string();
    c.bench_function("invocation/parse-servicebus", |b| {
        b.iter(|| {
            let req: InvocationRequest = serde_json::from_str(black_box(&sb)).unwrap();
            req.service_bus_trigger("msg").unwrap()
        });
    });
    let res = HttpResponseData::new(
        202,
        "application/json",
        r#"{"jobId":"0190c3a4-5b6c-7d8e-9f00-112233445566","status":"queued"}"#,
    )
    .with_header("Location", "urn:uuid:0190c3a4-5b6c-7d8e-9f00-112233445566");
    let job = serde_json::to_value(sample_envelope()).unwrap();
    c.bench_function("invocation/serialise-response", |b| {
        b.iter(|| {
            let mut out = InvocationResponse::default()
                .with_http("res", black_box(&res))
                .with_output("job", black_box(job.clone()));
            out.log("Accepted job");
            serde_json::to_vec(&out).unwrap()
        });
    });
}

/// The devhost's durable queue: one send is one fsync'd commit; concurrent sends share commits.
fn store(c: &mut Criterion) {
    use broker::store::{NewMessage, QueueOptions, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("queue.db"),
        QueueOptions {
            max_delivery_count: 10,
            lock_duration: std::time::Duration::from_secs(60),
            time_to_live: std::time::Duration::from_secs(3600),
            dead_letter_on_expiration: true,
            duplicate_detection: None,
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let body = serde_json::to_string(&sample_envelope()).unwrap();
    let message = move || NewMessage {
        queue: "jobs".into(),
        body: body.clone(),
        ..NewMessage::default()
    };
    let one = message.clone();
    c.bench_function("store/send-1 (fsync'd commit)", |b| {
        b.iter(|| rt.block_on(store.send(vec![one()])).unwrap());
    });
    c.bench_function("store/send-64-concurrent (group commit)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let sends: Vec<_> = (0..64)
                    .map(|_| {
                        let store = store.clone();
                        let m = message();
                        tokio::spawn(async move { store.send(vec![m]).await })
                    })
                    .collect();
                for s in sends {
                    s.await.unwrap().unwrap();
                }
            });
        });
    });
}

criterion_group!(benches, envelope, validation, invocation, store);
criterion_main!(benches);
