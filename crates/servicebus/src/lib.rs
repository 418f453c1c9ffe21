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
//! * [`retry`]: bounded, jittered retries and a per-try timeout for every call
//!   ([`RetryOptions`]).

pub mod auth;
pub mod entity;
mod error;
pub mod receive;
pub mod retry;
pub mod send;

pub use auth::Auth;
pub use entity::EntityCounts;
pub use error::ServiceBusError;
pub use receive::{ReceivedMessage, dead_letter_path};
pub use retry::RetryOptions;
pub use send::OutgoingMessage;

/// The REST API version this client speaks.
pub const API_VERSION: &str = "2021-05";

/// A client for one namespace endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceBusClient {
    endpoint: String,
    http: reqwest::Client,
    auth: Auth,
    retry: RetryOptions,
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
        let http = Self::http_client(retry)?;
        Ok(Self {
            endpoint,
            http,
            auth,
            retry,
        })
    }

    /// The same client with other retry options (tries, pauses, per-try timeout).
    pub fn with_retry(mut self, retry: RetryOptions) -> Result<Self, ServiceBusError> {
        self.http = Self::http_client(retry)?;
        self.retry = retry;
        Ok(self)
    }

    fn http_client(retry: RetryOptions) -> Result<reqwest::Client, ServiceBusError> {
        reqwest::Client::builder()
            .timeout(retry.try_timeout)
            .connect_timeout(retry.try_timeout.min(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| ServiceBusError::Endpoint(e.to_string()))
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A request to `path` (relative to the endpoint) with the `Authorization` header set.
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ServiceBusError> {
        let url = format!("{}/{}", self.endpoint, path.trim_start_matches('/'));
        let mut builder = self.http.request(method, url);
        if let Some(value) = self.auth.authorization().await? {
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        Ok(builder)
    }

    /// Make one call with retries: `method` on `path`, with `headers` and `body`. A transport
    /// failure or a transient status is retried per [`RetryOptions`]; the last answer (any
    /// status) or the last transport error is returned.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<&str>,
    ) -> Result<Answer, ServiceBusError> {
        let tries = self.retry.max_tries.max(1);
        let mut attempt = 1;
        loop {
            let mut builder = self.request(method.clone(), path).await?;
            for (name, value) in headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let Some(body) = body {
                builder = builder.body(body.to_owned());
            } else if method == reqwest::Method::POST || method == reqwest::Method::PUT {
                builder = builder.header(reqwest::header::CONTENT_LENGTH, "0");
            }
            let outcome = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.text().await {
                        Ok(body) => Ok(Answer {
                            status,
                            headers,
                            body,
                        }),
                        Err(e) => Err(ServiceBusError::Transport(chain(&e))),
                    }
                }
                Err(e) => Err(ServiceBusError::Transport(chain(&e))),
            };
            let again = match &outcome {
                Ok(answer) => retry::retryable_status(answer.status),
                Err(_) => true,
            };
            if !again || attempt >= tries {
                return outcome;
            }
            let pause = self.retry.delay_after(attempt);
            tracing::debug!(
                path,
                attempt,
                ?pause,
                "Service Bus call failed transiently; retrying"
            );
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }
}

/// An error with its causes (`reqwest` keeps the useful part, e.g. "Connection refused", in
/// the source chain).
fn chain(e: &dyn std::error::Error) -> String {
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

/// A short excerpt of an error body.
pub(crate) fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
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
