//! The invocation extractor and invocation-level answers.
//!
//! The host `POST`s an invocation request (`wire::InvocationRequest`) per invocation; the handler
//! always answers a JSON object. A 2xx answer carries an [`InvocationResponse`]; a non-2xx answer
//! fails the invocation (the host discards `Outputs` and `Logs`; for a Service Bus trigger the
//! message is abandoned).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use wire::{InvocationResponse, RawInvocationRequest};

use crate::problem::{PROBLEM_JSON, Problem};

/// A parsed invocation request and its invocation id.
#[derive(Debug)]
pub struct Invocation {
    /// The invocation id (`X-Azure-Functions-InvocationId`), or `-` when absent.
    pub id: String,
    /// The request body; each route decodes only the binding it reads.
    pub request: RawInvocationRequest,
}

impl<S: Send + Sync> FromRequest<S> for Invocation {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let id = req
            .headers()
            .get(wire::INVOCATION_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            Failure(Problem::new(
                "invocation-unreadable",
                "Invocation body could not be read",
                e.status(),
                e.body_text(),
            ))
        })?;
        let request = serde_json::from_slice(&bytes).map_err(|e| {
            Failure(Problem::new(
                "invocation-malformed",
                "Invocation request is not the custom-handler contract",
                StatusCode::BAD_REQUEST,
                format!("invocation body is not a JSON invocation request: {e}"),
            ))
        })?;
        Ok(Self { id, request })
    }
}

/// A successful invocation answer: HTTP 200 with the invocation response JSON.
#[derive(Debug)]
pub struct Completed(Response);

impl Completed {
    /// Answer with `body`, an invocation response ([`InvocationResponse`] or a
    /// [`wire::TypedInvocationResponse`]), serialised straight into the HTTP body.
    pub fn new(body: impl Serialize) -> Self {
        Self(axum::Json(body).into_response())
    }
}

impl From<InvocationResponse> for Completed {
    fn from(response: InvocationResponse) -> Self {
        Self::new(response)
    }
}

impl IntoResponse for Completed {
    fn into_response(self) -> Response {
        self.0
    }
}

/// A failed invocation: a non-2xx answer with a problem+json body.
#[derive(Debug)]
pub struct Failure(pub Problem);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.0.status, self.0.to_json()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<wire::WireError> for Failure {
    fn from(e: wire::WireError) -> Self {
        Failure(Problem::new(
            "invocation-malformed",
            "Invocation request is not the custom-handler contract",
            StatusCode::BAD_REQUEST,
            e.to_string(),
        ))
    }
}
