//! Property tests for submission validation against the repository's own job types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jobs::submission::{validate_submission, validate_value};
use jobs::{JobTypeRegistry, SchemaSource};
use jobs::{SubmissionError, Violation};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The repository's shipped job types (the handler loads the same files from `job-types/`).
fn registry() -> JobTypeRegistry {
    JobTypeRegistry::from_schemas([
        SchemaSource {
            name: "report",
            version: 1,
            text: include_str!("../../../job-types/report/v1.schema.json"),
        },
        SchemaSource {
            name: "report",
            version: 2,
            text: include_str!("../../../job-types/report/v2.schema.json"),
        },
        SchemaSource {
            name: "thumbnail",
            version: 1,
            text: include_str!("../../../job-types/thumbnail/v1.schema.json"),
        },
    ])
    .unwrap()
}

fn violations(result: Result<jobs::ValidatedJob, SubmissionError>) -> Vec<Violation> {
    match result {
        Err(SubmissionError::Invalid(v)) => v,
        other => panic!("expected violations, got {other:?}"),
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z0-9 /~_-]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Anything at all is either accepted or rejected with located violations; never a panic.
    #[test]
    fn arbitrary_json_is_accepted_or_explained(value in arb_json()) {
        let reg = registry();
        match validate_value(value, &reg) {
            Ok(job) => prop_assert!(reg.get(&job.job_type, Some(job.job_version)).is_some()),
            Err(SubmissionError::Invalid(v)) => {
                prop_assert!(!v.is_empty());
                for violation in v {
                    prop_assert!(violation.pointer.is_empty() || violation.pointer.starts_with('/'));
                    prop_assert!(!violation.detail.is_empty());
                }
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    /// Arbitrary bytes: malformed JSON is reported as such, with a position.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = validate_submission(&bytes, &registry());
    }

    /// Every well-formed report v1 job is accepted and its payload kept exactly.
    #[test]
    fn valid_reports_are_accepted_verbatim(
        name in "[ -~]{1,200}",
        rows in 0u32..=10_000_000,
        tenant in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
    ) {
        let payload = json!({"reportName": name, "rows": rows});
        let body = json!({"jobType": "report", "version": 1, "tenantId": tenant, "payload": payload});
        let job = validate_value(body, &registry()).unwrap();
        prop_assert_eq!(job.payload, payload);
        prop_assert_eq!(job.tenant_id, tenant);
        prop_assert_eq!(job.job_version, 1);
    }

    /// A bad `rows` value is reported at exactly `/payload/rows`, whatever else is right.
    #[test]
    fn bad_rows_are_located(
        rows in prop_oneof![
            (i64::MIN..0).prop_map(Value::from),
            (10_000_001i64..i64::MAX).prop_map(Value::from),
            "[a-z]{0,5}".prop_map(Value::from),
            any::<f64>().prop_filter("non-integral", |f| f.fract() != 0.0 && f.is_finite()).prop_map(Value::from),
        ],
    ) {
        let body = json!({"jobType": "report", "version": 1, "tenantId": "t", "payload": {"reportName": "r", "rows": rows}});
        let v = violations(validate_value(body, &registry()));
        prop_assert!(!v.is_empty());
        prop_assert!(v.iter().all(|v| v.pointer == "/payload/rows"), "{:?}", v);
    }

    /// Unknown top-level members are each reported at their own pointer.
    #[test]
    fn extra_members_are_each_reported(extra in prop::collection::btree_set("[a-z]{3,8}", 1..4)) {
        let mut body = json!({"jobType": "report", "version": 1, "tenantId": "t", "payload": {"reportName": "r", "rows": 1}});
        let known = ["payload", "version"];
        let extra: Vec<String> = extra.into_iter().filter(|e| !known.contains(&e.as_str())).collect();
        for name in &extra {
            body[name.as_str()] = json!(true);
        }
        let result = validate_value(body, &registry());
        if extra.is_empty() {
            prop_assert!(result.is_ok());
        } else {
            let mut pointers: Vec<String> = violations(result).into_iter().map(|v| v.pointer).collect();
            pointers.sort();
            let expected: Vec<String> = extra.iter().map(|e| format!("/{e}")).collect();
            prop_assert_eq!(pointers, expected);
        }
    }
}

#[test]
fn the_shipped_job_types_load() {
    let reg = registry();
    assert_eq!(reg.names().collect::<Vec<_>>(), ["report", "thumbnail"]);
    let thumb = r#"{"jobType":"thumbnail","tenantId":"t","payload":{"imageUrl":"https://x.test/a.png","width":64,"height":64}}"#;
    assert!(validate_submission(thumb.as_bytes(), &reg).is_ok());
    let bad = r#"{"jobType":"thumbnail","tenantId":"t","payload":{"imageUrl":"ftp://x/a.png","width":8,"height":64}}"#;
    let mut pointers: Vec<String> = violations(validate_submission(bad.as_bytes(), &reg))
        .into_iter()
        .map(|v| v.pointer)
        .collect();
    pointers.sort();
    assert_eq!(pointers, ["/payload/imageUrl", "/payload/width"]);
}
