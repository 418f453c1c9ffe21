//! A small Azure Service Bus REST client: the data-plane HTTP API of one namespace, authorized
//! with Microsoft Entra ID tokens from `azure_identity` (or, for a loopback stand-in such as the
//! devhost, with no token at all).
//!
//! * [`auth`]: how requests are authorized ([`Auth`]).
//! * [`entity`]: entity runtime information, `GET /{entity}?api-version=2021-05`, read from the
//!   Atom entry's `CountDetails` ([`EntityCounts`]).
//!
//! Send and peek-lock will sit beside them as their own modules.

pub mod auth;
pub mod entity;
mod error;

use std::time::Duration;

pub use auth::Auth;
pub use entity::EntityCounts;
pub use error::ServiceBusError;

/// The REST API version this client speaks.
pub const API_VERSION: &str = "2021-05";

/// A client for one namespace endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceBusClient {
    endpoint: String,
    http: reqwest::Client,
    auth: Auth,
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ServiceBusError::Endpoint(e.to_string()))?;
        Ok(Self {
            endpoint,
            http,
            auth,
        })
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
