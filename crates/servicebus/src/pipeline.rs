//! HTTP through `azure_core`'s pipeline: its exponential retry policy (transport failures and
//! 408/429/500/502/503/504, honouring `Retry-After`), its client request id, user agent and
//! logging policies, over a `reqwest` (rustls) transport with a per-try timeout.
//!
//! Authorization is a per-try policy of our own: `azure_core`'s bearer-token policy refuses plain
//! `http://`, which the loopback stand-in (the devhost) needs; ours adds the Entra ID token when
//! there is a credential (fetched per try; the credentials cache and refresh it) and nothing
//! otherwise. [`crate::ServiceBusClient::new`] still refuses a token over plain `http`.

use std::sync::Arc;

use azure_core::error::ErrorKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Pipeline, Request, RetryOptions as CoreRetry,
    Transport,
};

use crate::{Auth, RetryOptions, ServiceBusError};

/// Adds `Authorization: Bearer <token>` when the client has a credential.
#[derive(Debug)]
struct Authorize(Auth);

#[async_trait::async_trait]
impl Policy for Authorize {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let value = self
            .0
            .authorization()
            .await
            .map_err(|e| azure_core::Error::new(ErrorKind::Credential, e))?;
        if let Some(value) = value {
            request.insert_header("authorization", value);
        }
        match next.split_first() {
            Some((first, rest)) => first.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                ErrorKind::Other,
                "the authorization policy must not be the last one",
            )),
        }
    }
}

/// The retry policy for `retry`.
fn core_retry(retry: RetryOptions) -> CoreRetry {
    if retry.max_tries <= 1 {
        return CoreRetry::none();
    }
    let ms = |d: std::time::Duration| {
        azure_core::time::Duration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    };
    CoreRetry::exponential(ExponentialRetryOptions {
        initial_delay: ms(retry.initial_delay),
        max_retries: retry.max_tries - 1,
        max_total_elapsed: ms(retry.try_timeout.saturating_mul(retry.max_tries)),
        max_delay: ms(retry.max_delay),
    })
}

/// Response headers the client accepts in one HTTP/1 answer (hyper's default is 100). A peek-lock
/// answer carries one header per application property, so a message with ~95 of them would not
/// parse under the default: the receive must be able to read every message it can lock.
pub const MAX_RESPONSE_HEADERS: usize = 512;

/// The HTTP client the pipelines of one [`crate::ServiceBusClient`] share.
pub(crate) fn http(retry: RetryOptions) -> Result<Arc<reqwest::Client>, ServiceBusError> {
    reqwest::Client::builder()
        .timeout(retry.try_timeout)
        .connect_timeout(retry.try_timeout.min(std::time::Duration::from_secs(5)))
        .http1_max_headers(MAX_RESPONSE_HEADERS)
        .build()
        .map(Arc::new)
        .map_err(|e| ServiceBusError::Endpoint(e.to_string()))
}

/// A pipeline over `http`: with `retry`'s retries when `retries` is true, with none otherwise
/// (for calls that are not safe to repeat blindly: a peek-lock that may have locked a message).
pub(crate) fn build(
    http: Arc<reqwest::Client>,
    auth: Auth,
    retry: RetryOptions,
    retries: bool,
) -> Pipeline {
    let options = ClientOptions {
        retry: if retries {
            core_retry(retry)
        } else {
            CoreRetry::none()
        },
        transport: Some(Transport::new(http)),
        ..ClientOptions::default()
    };
    Pipeline::new(
        Some("servicebus"),
        Some(env!("CARGO_PKG_VERSION")),
        options,
        Vec::new(),
        vec![Arc::new(Authorize(auth))],
        None,
    )
}
