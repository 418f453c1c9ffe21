//! A small Azure Service Bus REST client: the data-plane HTTP API of one namespace, authorized
//! with Microsoft Entra ID tokens from `azure_identity` (or, for a loopback stand-in such as the
//! devhost, with no token at all).
//!
//! * [`auth`]: how requests are authorized ([`Auth`]).
//! * [`entity`]: entity runtime information, `GET /{entity}?api-version=2021-05`, read from the
//!   Atom entry's `CountDetails` ([`EntityCounts`]).
//! * [`send`]: `POST /{queue}/messages` with a `BrokerProperties` header ([`OutgoingMessage`]).
//! * [`receive`]: peek-lock `POST /{queue}/messages/head`, then complete (`DELETE`) or unlock
//!   (`PUT`) on the message URI, on a queue or its `$DeadLetterQueue` ([`ReceivedMessage`]).
//! * [`retry`]: retries and the per-try timeout of every call ([`RetryOptions`]), applied by
//!   `azure_core`'s HTTP pipeline (module `pipeline`) over a `reqwest` (rustls) transport.

pub mod auth;
pub mod entity;
mod error;
mod pipeline;
pub mod receive;
pub mod retry;
pub mod send;

pub use auth::Auth;
pub use entity::EntityCounts;
pub use error::ServiceBusError;
pub use pipeline::MAX_RESPONSE_HEADERS;
pub use receive::{ReceivedMessage, dead_letter_path};
pub use retry::RetryOptions;
pub use send::OutgoingMessage;

/// The REST API version this client speaks.
pub const API_VERSION: &str = "2021-05";

/// A client for one namespace endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceBusClient {
    endpoint: String,
    pipeline: azure_core::http::Pipeline,
    /// The same pipeline without retries, for calls that must not be repeated blindly.
    once: azure_core::http::Pipeline,
    auth: Auth,
    retry: RetryOptions,
}

/// Why a call got no usable answer: the request never left (a connection could not be made), or
/// it may have reached the service (the connection broke, the try timed out, the answer did not
/// parse), so whatever it asked for may have happened.
#[derive(Debug)]
pub(crate) enum NoAnswer {
    /// Not sent: safe to try again.
    NotSent(ServiceBusError),
    /// Perhaps processed.
    Unknown(ServiceBusError),
}

impl From<NoAnswer> for ServiceBusError {
    fn from(e: NoAnswer) -> Self {
        match e {
            NoAnswer::NotSent(e) | NoAnswer::Unknown(e) => e,
        }
    }
}

/// One HTTP answer, read in full.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl ServiceBusClient {
    /// A client for `endpoint` (`https://<namespace>.servicebus.windows.net`, or an `http://`
    /// loopback stand-in), authorized by `auth`. Refuses a token over plain `http://` and a
    /// plain-`http://` endpoint that is not loopback. The process must have installed a rustls
    /// crypto provider first (`rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(endpoint: &str, auth: Auth) -> Result<Self, ServiceBusError> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| ServiceBusError::Endpoint(format!("{endpoint}: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) && matches!(auth, Auth::None) => {}
            "http" => {
                return Err(ServiceBusError::Endpoint(format!(
                    "{endpoint}: plain http is only for a loopback stand-in without credentials"
                )));
            }
            other => {
                return Err(ServiceBusError::Endpoint(format!(
                    "{endpoint}: unsupported scheme {other}"
                )));
            }
        }
        let retry = RetryOptions::default();
        let http = pipeline::http(retry)?;
        Ok(Self {
            endpoint,
            pipeline: pipeline::build(http.clone(), auth.clone(), retry, true),
            once: pipeline::build(http, auth.clone(), retry, false),
            auth,
            retry,
        })
    }

    /// The same client with other retry options (tries, pauses, per-try timeout).
    pub fn with_retry(mut self, retry: RetryOptions) -> Result<Self, ServiceBusError> {
        let http = pipeline::http(retry)?;
        self.pipeline = pipeline::build(http.clone(), self.auth.clone(), retry, true);
        self.once = pipeline::build(http, self.auth.clone(), retry, false);
        self.retry = retry;
        Ok(self)
    }

    /// The retry options in force.
    pub fn retry_options(&self) -> RetryOptions {
        self.retry
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Make one call through the pipeline: `method` on `path` (relative to the endpoint), with
    /// `headers` and `body`. Transport failures and transient statuses are retried by the
    /// pipeline's retry policy ([`RetryOptions`]); the last answer (any status) or the last
    /// transport error is returned.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Result<Answer, ServiceBusError> {
        self.call_on(&self.pipeline, method, path, headers, body)
            .await
            .map_err(ServiceBusError::from)
    }

    /// Make one call with no retries at all, telling a request that never left from one that
    /// may have been processed (for the caller to decide what is safe).
    pub(crate) async fn call_once(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<Answer, NoAnswer> {
        self.call_on(&self.once, method, path, &[], None).await
    }

    async fn call_on(
        &self,
        pipeline: &azure_core::http::Pipeline,
        method: reqwest::Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Result<Answer, NoAnswer> {
        use azure_core::error::ErrorKind;
        use azure_core::http::{Context, Method, PipelineSendOptions, Request, Url};

        let text = format!("{}/{}", self.endpoint, path.trim_start_matches('/'));
        let url = Url::parse(&text)
            .map_err(|e| NoAnswer::NotSent(ServiceBusError::Endpoint(format!("{text}: {e}"))))?;
        let method = match method.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => {
                return Err(NoAnswer::NotSent(ServiceBusError::Endpoint(format!(
                    "unsupported method {other}"
                ))));
            }
        };
        let mut request = Request::new(url, method);
        for (name, value) in headers {
            request.insert_header(name.to_ascii_lowercase(), value.clone());
        }
        match body {
            Some(body) => request.set_body(body.to_owned()),
            None if matches!(method, Method::Post | Method::Put) => {
                request.insert_header("content-length", "0");
            }
            None => {}
        }
        let options = PipelineSendOptions {
            skip_checks: true,
            ..PipelineSendOptions::default()
        };
        // `azure_core`'s reqwest transport reports a failure to connect as `Connection` and any
        // later failure (broken connection, timeout, an answer that does not parse) as `Io`
        // (typespec_client_core `http/clients/reqwest.rs`, `execute_request`).
        let response = pipeline
            .send(&Context::new(), &mut request, Some(options))
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Credential => NoAnswer::NotSent(ServiceBusError::Credential(chain(&e))),
                ErrorKind::Connection => NoAnswer::NotSent(ServiceBusError::Transport(chain(&e))),
                _ => NoAnswer::Unknown(ServiceBusError::Transport(chain(&e))),
            })?;
        let (status, response_headers, body) = response.deconstruct();
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in response_headers.iter() {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                reqwest::header::HeaderValue::from_str(value.as_str()),
            ) {
                map.append(name, value);
            }
        }
        let body = body.into_string().map_err(|e| {
            NoAnswer::Unknown(ServiceBusError::Malformed(format!(
                "the answer is not text: {e}"
            )))
        })?;
        Ok(Answer {
            status: u16::from(status),
            headers: map,
            body,
        })
    }
}

/// An error with its causes, on one line (`reqwest` keeps the useful part, e.g. "Connection
/// refused", in the source chain); a cause already in the text is not repeated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// An answer of a status the operation does not expect: the status and a short excerpt of the
/// body.
pub(crate) fn unexpected(status: u16, body: &str) -> ServiceBusError {
    ServiceBusError::Status {
        status,
        body: body.chars().take(300).collect(),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_without_a_token() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        assert!(ServiceBusClient::new("http://127.0.0.1:7071/servicebus/", Auth::None).is_ok());
        assert!(ServiceBusClient::new("http://localhost:1", Auth::None).is_ok());
        assert!(matches!(
            ServiceBusClient::new("http://example.com", Auth::None),
            Err(ServiceBusError::Endpoint(_))
        ));
        assert!(ServiceBusClient::new("https://ns.servicebus.windows.net", Auth::None).is_ok());
        assert!(ServiceBusClient::new("ftp://x", Auth::None).is_err());
        let c = ServiceBusClient::new("http://[::1]:9/sb/", Auth::None).unwrap();
        assert_eq!(c.endpoint(), "http://[::1]:9/sb");
    }
}
