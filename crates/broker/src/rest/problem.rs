//! RFC 9457 problem details, and the store's errors as HTTP answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Namespace;
use crate::store::StoreError;

/// A problem answer.
#[derive(Debug)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Short title.
    pub title: &'static str,
    /// What happened.
    pub detail: String,
}

impl Problem {
    /// A problem with a status, title and detail.
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
        }
    }

    /// The answer to a store call: `ok` of what it gave, or the problem its error is.
    pub fn answer<T>(outcome: Result<T, StoreError>, ok: impl FnOnce(T) -> Response) -> Response {
        outcome.map_or_else(|e| Self::from(&e).into_response(), ok)
    }
}

/// `Err` with a `status` "No such queue" problem unless `namespace` has `queue`; `detail` words
/// it, given the queues the namespace declares (comma-separated).
pub async fn require_queue(
    namespace: &Namespace,
    queue: &str,
    status: StatusCode,
    detail: impl FnOnce(&str) -> String,
) -> Result<(), Response> {
    match namespace.exists(queue).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            let detail = detail(&namespace.declared().join(", "));
            Err(Problem::new(status, "No such queue", detail).into_response())
        }
        Err(e) => Err(Problem::from(&e).into_response()),
    }
}

impl From<&StoreError> for Problem {
    /// A lock that is not held is `404` (Service Bus: "No message was found with the specified
    /// MessageId or LockToken"); anything else means the store cannot serve: `503`.
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::LockLost { .. } => {
                Self::new(StatusCode::NOT_FOUND, "Message lock lost", e.to_string())
            }
            _ => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Queue store unavailable",
                e.to_string(),
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({"type": "about:blank", "title": self.title, "status": self.status.as_u16(), "detail": self.detail});
        let mut res = (self.status, body.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        res
    }
}
