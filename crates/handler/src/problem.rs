//! RFC 9457 problem details, for the HTTP answers the handler gives clients (through `res`) and
//! for failed invocations (to the host).

use axum::http::StatusCode;
use serde::{Serialize, Serializer};

use jobs::Violation;

/// Media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Problem type URI; see the README's "Problem types" table.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: &'static str,
    /// HTTP status.
    #[serde(serialize_with = "status_code")]
    pub status: StatusCode,
    /// What happened this time.
    pub detail: String,
    /// The request path the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Correlation id of the request, when known.
    #[serde(rename = "correlationId", skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The violations found (validation problems only), at most [`MAX_ERRORS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
    /// How many violations beyond [`MAX_ERRORS`] were left out of `errors`.
    #[serde(rename = "omittedErrors", skip_serializing_if = "Option::is_none")]
    pub omitted_errors: Option<usize>,
}

/// Most violations one problem lists: a body with thousands of unknown members gets the first
/// hundred and a count of the rest, not a megabyte answer.
pub const MAX_ERRORS: usize = 100;

fn status_code<S: Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    /// A problem of type `urn:resilient-jobs:problem:<slug>`.
    pub fn new(
        slug: &str,
        title: &'static str,
        status: StatusCode,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("urn:resilient-jobs:problem:{slug}"),
            title,
            status,
            detail: detail.into(),
            instance: None,
            correlation_id: None,
            errors: Vec::new(),
            omitted_errors: None,
        }
    }

    /// Set `errors`, keeping the first [`MAX_ERRORS`] and counting the rest.
    pub fn with_errors(mut self, mut errors: Vec<Violation>) -> Self {
        if errors.len() > MAX_ERRORS {
            self.omitted_errors = Some(errors.len() - MAX_ERRORS);
            errors.truncate(MAX_ERRORS);
        }
        self.errors = errors;
        self
    }

    /// Set the `instance` member.
    pub fn at(mut self, instance: Option<String>) -> Self {
        self.instance = instance;
        self
    }

    /// The last segment of the type URI (`validation-failed`), for metrics and logs.
    pub fn reason(&self) -> &str {
        self.kind.rsplit(':').next().unwrap_or_default()
    }

    /// The problem as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status.as_u16()))
    }
}
