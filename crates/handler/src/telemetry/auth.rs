//! Microsoft Entra ID authentication for telemetry ingestion.
//!
//! `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` is the app setting Microsoft's SDKs and the
//! Functions host read ("Microsoft Entra authentication for Application Insights"):
//! `Authorization=AAD` for the system-assigned identity, `Authorization=AAD;ClientId=<id>` for a
//! user-assigned one. When it is set, the exporter's HTTP client adds `Authorization: Bearer
//! <token>` for the scope `<audience>/.default`, where the audience is the connection string's
//! `AADAudience` or `https://monitor.azure.com/` (the public cloud). The trailing slash is kept,
//! as Microsoft's exporters do (`https://monitor.azure.com//.default`, azure-monitor-opentelemetry
//! -exporter for Java, `HttpPipelineBuilder`).
//!
//! The same page notes that `/v2/track` does not accept Entra ID and that SDKs send to
//! `/v2.1/track`; `opentelemetry-application-insights` posts to `/v2/track`, so authenticated
//! requests are re-addressed to `/v2.1/track`.
//!
//! A token never travels over plain `http`: a request to an `http://` URL is refused before it
//! is sent (the devhost's loopback capture is `http` and needs no token; [`super::Telemetry`]
//! gives such an endpoint a client without a credential and logs why).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use azure_core::credentials::TokenCredential;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use thiserror::Error;

use super::connection::key_values;

/// The token audience of Application Insights ingestion in the public cloud.
pub const DEFAULT_AUDIENCE: &str = "https://monitor.azure.com/";

/// How telemetry ingestion authenticates, from `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (read
/// with the other settings, `settings::catalogue::AUTHENTICATION_STRING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestionAuth {
    /// `ClientId`: a user-assigned managed identity; `None` for the system-assigned one.
    pub client_id: Option<String>,
    /// Whether the app runs in Azure (`IDENTITY_ENDPOINT` is set): the managed identity there,
    /// the developer's `az login` / `azd auth login` elsewhere.
    pub managed_identity: bool,
}

/// An authentication string the handler cannot use (its text is not secret and is quoted).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthStringError {
    /// A `;`-separated part is not `Key=Value`.
    #[error("part {0} is not Key=Value")]
    BadPart(usize),
    /// `Authorization` is missing.
    #[error("Authorization is missing (expected Authorization=AAD)")]
    MissingAuthorization,
    /// `Authorization` names a scheme other than `AAD`.
    #[error("Authorization={0:?} is not supported (only AAD)")]
    Unsupported(String),
    /// `ClientId=` is present but empty.
    #[error("ClientId is empty")]
    EmptyClientId,
}

/// Telemetry could not be authenticated.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The credential could not be created or gave no token.
    #[error("cannot get a Microsoft Entra token for Application Insights: {0}")]
    Credential(String),
    /// A token was about to be sent over plain `http`.
    #[error("refusing to send a Microsoft Entra token over plain http to {0}")]
    TokenOverHttp(String),
    /// The request could not be re-addressed to `/v2.1/track`.
    #[error("cannot address {0} to /v2.1/track")]
    Address(String),
}

impl IngestionAuth {
    /// Parse `Authorization=AAD[;ClientId=<id>]` (keys case-insensitive, unknown keys ignored).
    pub fn parse(text: &str, managed_identity: bool) -> Result<Self, AuthStringError> {
        let (mut authorization, mut client_id) = (None, None);
        for part in key_values(text) {
            let (k, v) = part.map_err(AuthStringError::BadPart)?;
            match k.as_str() {
                "authorization" => authorization = Some(v.to_owned()),
                "clientid" => client_id = Some(v.to_owned()),
                _ => {}
            }
        }
        match authorization {
            None => return Err(AuthStringError::MissingAuthorization),
            Some(a) if !a.eq_ignore_ascii_case("aad") => {
                return Err(AuthStringError::Unsupported(a));
            }
            Some(_) => {}
        }
        if client_id.as_deref() == Some("") {
            return Err(AuthStringError::EmptyClientId);
        }
        Ok(Self {
            client_id,
            managed_identity,
        })
    }

    /// The credential this says to use.
    pub fn credential(&self) -> Result<Arc<dyn TokenCredential>, AuthError> {
        let failed = |e: azure_core::Error| AuthError::Credential(e.to_string());
        if self.managed_identity {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: self.client_id.clone().map(UserAssignedId::ClientId),
                ..ManagedIdentityCredentialOptions::default()
            };
            Ok(ManagedIdentityCredential::new(Some(options)).map_err(failed)?)
        } else {
            Ok(DeveloperToolsCredential::new(None).map_err(failed)?)
        }
    }
}

/// The token scope for an audience (`https://monitor.azure.com/` -> `https://monitor.azure.com//.default`).
pub fn scope(audience: Option<&str>) -> String {
    format!("{}/.default", audience.unwrap_or(DEFAULT_AUDIENCE))
}

/// Where tokens come from: a credential, driven on a small runtime of its own (the exporter calls
/// the client from its own threads, outside the server's async runtime). Credentials cache tokens
/// and refresh them before they expire, so most calls return at once.
struct TokenSource {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    runtime: Mutex<tokio::runtime::Runtime>,
}

impl TokenSource {
    fn bearer(&self) -> Result<String, AuthError> {
        let runtime = self
            .runtime
            .lock()
            .map_err(|_| AuthError::Credential("the token runtime is poisoned".to_owned()))?;
        let token = runtime
            .block_on(self.credential.get_token(&[self.scope.as_str()], None))
            .map_err(|e| AuthError::Credential(e.to_string()))?;
        Ok(format!("Bearer {}", token.token.secret()))
    }
}

/// The exporter's HTTP client: a blocking `reqwest` client, plus the Entra ID bearer token when
/// there is a credential. Clones share the token source and the "already warned" flag (a failing
/// credential is reported once, not on every batch, and again when it recovers).
#[derive(Clone)]
pub struct IngestionClient {
    http: reqwest::blocking::Client,
    token: Option<Arc<TokenSource>>,
    failing: Arc<AtomicBool>,
}

impl std::fmt::Debug for IngestionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestionClient")
            .field("entra_id", &self.token.as_ref().map(|t| &t.scope))
            .finish_non_exhaustive()
    }
}

impl IngestionClient {
    /// Send without a token (instrumentation key only, or a loopback capture).
    pub fn unauthenticated(http: reqwest::blocking::Client) -> Self {
        Self {
            http,
            token: None,
            failing: Arc::default(),
        }
    }

    /// Send every request with a bearer token for `scope` from `credential`.
    pub fn entra(
        http: reqwest::blocking::Client,
        credential: Arc<dyn TokenCredential>,
        scope: String,
    ) -> Result<Self, AuthError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AuthError::Credential(format!("cannot start the token runtime: {e}")))?;
        Ok(Self {
            http,
            token: Some(Arc::new(TokenSource {
                credential,
                scope,
                runtime: Mutex::new(runtime),
            })),
            failing: Arc::default(),
        })
    }

    /// Whether requests carry a token.
    pub fn is_authenticated(&self) -> bool {
        self.token.is_some()
    }

    fn authorize(&self, request: &mut Request<Bytes>) -> Result<(), AuthError> {
        let Some(source) = &self.token else {
            return Ok(());
        };
        let uri = request.uri().clone();
        if uri.scheme_str() != Some("https") {
            return Err(AuthError::TokenOverHttp(uri.to_string()));
        }
        if uri.path().ends_with("/v2/track") {
            let path = format!("{}/v2.1/track", uri.path().trim_end_matches("/v2/track"));
            let mut parts = uri.into_parts();
            let query = parts
                .path_and_query
                .as_ref()
                .and_then(|pq| pq.query())
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            parts.path_and_query = Some(
                format!("{path}{query}")
                    .parse()
                    .map_err(|e| AuthError::Address(format!("{path}: {e}")))?,
            );
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|e| AuthError::Address(e.to_string()))?;
        }
        let mut value = http::HeaderValue::from_str(&source.bearer()?)
            .map_err(|e| AuthError::Credential(format!("the token is not a header value: {e}")))?;
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
        Ok(())
    }
}

#[async_trait::async_trait]
impl HttpClient for IngestionClient {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        match self.authorize(&mut request) {
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "telemetry not sent (reported once until it recovers)");
                }
                return Err(Box::new(e));
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("telemetry authenticates again");
            }
            Ok(()) => {}
        }
        self.http.send_bytes(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let system = IngestionAuth::parse("Authorization=AAD", true).unwrap();
        assert_eq!(
            system,
            IngestionAuth {
                client_id: None,
                managed_identity: true
            }
        );
        let user =
            IngestionAuth::parse(" authorization = aad ; ClientId = 1234-abcd ;", false).unwrap();
        assert_eq!(user.client_id.as_deref(), Some("1234-abcd"));
        assert!(!user.managed_identity);
    }

    #[test]
    fn rejects_what_it_cannot_honour() {
        let parse = |s| IngestionAuth::parse(s, true);
        assert_eq!(
            parse("Authorization=Basic"),
            Err(AuthStringError::Unsupported("Basic".into()))
        );
        assert_eq!(
            parse("ClientId=abc"),
            Err(AuthStringError::MissingAuthorization)
        );
        assert_eq!(parse("AAD"), Err(AuthStringError::BadPart(1)));
        assert_eq!(
            parse("Authorization=AAD;ClientId="),
            Err(AuthStringError::EmptyClientId)
        );
    }

    #[test]
    fn scope_keeps_the_audience_slash() {
        assert_eq!(scope(None), "https://monitor.azure.com//.default");
        assert_eq!(
            scope(Some("https://monitor.azure.us/")),
            "https://monitor.azure.us//.default"
        );
    }
}
