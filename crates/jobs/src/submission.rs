//! Client submissions: parsing and validation of the body POSTed to `IngestJob`.
//!
//! The shape is fixed by `schemas/submission.schema.json` (shipped in this crate); the payload is
//! then checked against the schema of its job type and version from the [`JobTypeRegistry`].
//! Every violation is reported, each with a JSON pointer into the request body.

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;
use thiserror::Error;

use crate::json::{DuplicateMember, JsonError};
use crate::{JobTypeRegistry, Violation};

/// The JSON Schema of a submission, as text.
pub const SUBMISSION_SCHEMA: &str = include_str!("../schemas/submission.schema.json");

#[allow(clippy::expect_used)] // A constant compiled into the binary; a unit test proves it builds.
static SUBMISSION: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(SUBMISSION_SCHEMA).expect("submission schema is JSON");
    jsonschema::validator_for(&schema).expect("submission schema compiles")
});

/// A submission that passed every check, with its job type version resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedJob {
    /// Tenant id.
    pub tenant_id: String,
    /// Job type name.
    pub job_type: String,
    /// Resolved job type version.
    pub job_version: u32,
    /// The payload, valid against the job type's schema.
    pub payload: Value,
}

/// Why a submission was rejected.
#[derive(Debug, Error, PartialEq)]
pub enum SubmissionError {
    /// The body is not JSON at all.
    #[error("request body is not valid JSON: {message} (line {line}, column {column})")]
    MalformedJson {
        /// What the parser said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An object in the body names the same member twice.
    #[error(transparent)]
    DuplicateMember(DuplicateMember),
    /// The body is JSON but breaks the submission or job type schema.
    #[error("the job is invalid: {} violation(s)", .0.len())]
    Invalid(Vec<Violation>),
}

/// Parse (strictly: see [`crate::json`]) and validate a request body.
pub fn validate_submission(
    body: &[u8],
    registry: &JobTypeRegistry,
) -> Result<ValidatedJob, SubmissionError> {
    let value = crate::json::parse(body).map_err(|e| match e {
        JsonError::Syntax {
            message,
            line,
            column,
        } => SubmissionError::MalformedJson {
            message,
            line,
            column,
        },
        JsonError::DuplicateMember(at) => SubmissionError::DuplicateMember(at),
    })?;
    validate_value(value, registry)
}

/// Validate an already-parsed request body.
pub fn validate_value(
    value: Value,
    registry: &JobTypeRegistry,
) -> Result<ValidatedJob, SubmissionError> {
    // `is_valid` stops at the first failure and builds no errors: the common, valid case pays only
    // for the check; an invalid body is walked again to report every violation.
    let mut violations: Vec<Violation> = if SUBMISSION.is_valid(&value) {
        Vec::new()
    } else {
        SUBMISSION
            .iter_errors(&value)
            .flat_map(|e| crate::violation::from_schema_error(&e, ""))
            .collect()
    };

    let job_type = value
        .get("jobType")
        .and_then(Value::as_str)
        .filter(|t| crate::registry::valid_type_name(t));
    // A `version` that is not a whole number from 1 (the schema above reports it) resolves to no
    // schema: the payload is checked against the version asked for or not at all, never against
    // whatever the latest version happens to be.
    let version = value.get("version").map(|v| {
        v.as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v >= 1)
    });
    let usable_version = match version {
        None => Some(None),
        Some(Some(v)) => Some(Some(v)),
        Some(None) => None,
    };
    let resolved = job_type.and_then(|name| {
        if !registry.contains(name) {
            let known = registry.names().collect::<Vec<_>>().join(", ");
            violations.push(Violation::new(
                "/jobType",
                format!("unknown job type \"{name}\"; known types: {known}"),
            ));
            return None;
        }
        let version = usable_version?;
        let found = registry.get(name, version);
        if found.is_none() {
            let known = registry
                .versions(name)
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let asked = version.map_or_else(String::new, |v| v.to_string());
            violations.push(Violation::new(
                "/version",
                format!("job type \"{name}\" has no version {asked}; known versions: {known}"),
            ));
        }
        found
    });
    if let (Some(job_type), Some(payload)) =
        (resolved, value.get("payload").filter(|p| p.is_object()))
    {
        violations.extend(job_type.violations(payload, "/payload"));
    }
    if !violations.is_empty() {
        return Err(SubmissionError::Invalid(violations));
    }
    // Every field below was proven present and well-typed by the schema above.
    match (resolved, value) {
        (Some(job_type), Value::Object(mut map)) => Ok(ValidatedJob {
            tenant_id: map
                .get("tenantId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            job_type: job_type.name().to_owned(),
            job_version: job_type.version(),
            payload: map.remove("payload").unwrap_or_default(),
        }),
        _ => Err(SubmissionError::Invalid(vec![Violation::new(
            "",
            "the job must be a JSON object",
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> JobTypeRegistry {
        let mut r = JobTypeRegistry::default();
        let v1 = json!({"type": "object", "required": ["rows"], "properties": {"rows": {"type": "integer", "minimum": 0}}});
        let v2 = json!({"type": "object", "required": ["rows", "format"], "properties": {"format": {"enum": ["csv"]}}});
        r.insert("report", 1, &v1.to_string()).unwrap();
        r.insert("report", 2, &v2.to_string()).unwrap();
        r
    }

    fn pointers(err: SubmissionError) -> Vec<String> {
        match err {
            SubmissionError::Invalid(v) => v.into_iter().map(|v| v.pointer).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn schema_constant_compiles() {
        LazyLock::force(&SUBMISSION);
    }

    #[test]
    fn accepts_valid_job_and_resolves_latest_version() {
        let body =
            br#"{"jobType":"report","tenantId":"contoso","payload":{"rows":1,"format":"csv"}}"#;
        let job = validate_submission(body, &registry()).unwrap();
        assert_eq!(
            (
                job.job_type.as_str(),
                job.job_version,
                job.tenant_id.as_str()
            ),
            ("report", 2, "contoso")
        );
        assert_eq!(job.payload, json!({"rows": 1, "format": "csv"}));
    }

    #[test]
    fn malformed_json_reports_position() {
        let err = validate_submission(b"{\n  \"a\": ", &registry()).unwrap_err();
        assert!(
            matches!(err, SubmissionError::MalformedJson { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn reports_every_violation_with_pointers() {
        let body =
            br#"{"jobType":"report","version":1,"tenantId":"","payload":{"rows":-1},"extra":1}"#;
        let mut got = pointers(validate_submission(body, &registry()).unwrap_err());
        got.sort();
        assert_eq!(got, ["/extra", "/payload/rows", "/tenantId"]);
    }

    #[test]
    fn unknown_type_and_version_are_located() {
        let body = br#"{"jobType":"nope","tenantId":"t","payload":{}}"#;
        assert_eq!(
            pointers(validate_submission(body, &registry()).unwrap_err()),
            ["/jobType"]
        );
        let body = br#"{"jobType":"report","version":9,"tenantId":"t","payload":{}}"#;
        assert_eq!(
            pointers(validate_submission(body, &registry()).unwrap_err()),
            ["/version"]
        );
    }

    #[test]
    fn a_wrong_version_is_the_only_complaint() {
        for version in [r#""1""#, "-1", "null", "0", "18446744073709551616", "1.5"] {
            let body = format!(
                r#"{{"jobType":"report","version":{version},"tenantId":"t","payload":{{"rows":1}}}}"#
            );
            assert_eq!(
                pointers(validate_submission(body.as_bytes(), &registry()).unwrap_err()),
                ["/version"],
                "version {version}"
            );
        }
    }

    #[test]
    fn duplicate_members_are_rejected_not_last_wins() {
        let body = br#"{"jobType":"report","tenantId":"a","tenantId":"b","payload":{"rows":1}}"#;
        assert!(matches!(
            validate_submission(body, &registry()).unwrap_err(),
            SubmissionError::DuplicateMember(DuplicateMember { pointer, .. }) if pointer == "/tenantId"
        ));
    }

    #[test]
    fn integral_numbers_reach_the_payload_as_integers() {
        let body = br#"{"jobType":"report","version":1,"tenantId":"t","payload":{"rows":1e2}}"#;
        let job = validate_submission(body, &registry()).unwrap();
        assert_eq!(job.payload.to_string(), r#"{"rows":100}"#);
    }

    #[test]
    fn non_objects_are_rejected() {
        for body in [&b"[]"[..], b"null", b"42", b"\"x\""] {
            assert_eq!(
                pointers(validate_submission(body, &registry()).unwrap_err()),
                [""]
            );
        }
    }
}
