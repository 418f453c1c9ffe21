//! RFC 9457 problem details, for the HTTP answers the handler gives clients (through `res`) and
//! for failed invocations (to the host).

use serde::Serialize;

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
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// The request path the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Correlation id of the request, when known.
    #[serde(rename = "correlationId", skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Every violation found (validation problems only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
    /// Seconds the client should wait before retrying: sent as the `Retry-After` header (429, 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of type `urn:resilient-jobs:problem:<slug>`.
    pub fn new(slug: &str, title: &'static str, status: u16, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:resilient-jobs:problem:{slug}"),
            title,
            status,
            detail: detail.into(),
            instance: None,
            correlation_id: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Set the `instance` member.
    pub fn at(mut self, instance: Option<String>) -> Self {
        self.instance = instance;
        self
    }

    /// Set the `Retry-After` seconds.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The last segment of the type URI (`validation-failed`), for metrics and logs.
    pub fn reason(&self) -> &str {
        self.kind.rsplit(':').next().unwrap_or_default()
    }

    /// The problem as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status))
    }
}
