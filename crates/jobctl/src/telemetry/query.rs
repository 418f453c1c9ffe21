//! The Application Insights query API: `POST {endpoint}/v1/apps/{app-id}/query` with a Kusto
//! query (Microsoft Learn, REST API "Application Insights > Query - Execute").
//!
//! Request: JSON `{"query": "...", "timespan": "P30D"}` (an ISO 8601 period applied on top of
//! the query's own filters), `Authorization: Bearer <token>` for the scope
//! `https://api.applicationinsights.io/.default` ("Application Insights API access with Microsoft
//! Entra authentication"). Answer: `{"tables": [{"name": "PrimaryResult", "columns": [{"name",
//! "type"}], "rows": [[...]]}]}`; `dynamic` columns such as `customDimensions` come as JSON text.
//! The API does not page: one answer holds the whole result (up to its limits of 500,000 rows
//! and 64 MB), so the queries here select one job or one projection. Errors: `{"error": {"code",
//! "message", "innererror"?}}` with 400 (`BadArgumentError`: the query), 401
//! (`AuthenticationFailed`: no token), 403 (`InvalidAuthenticationToken*`, or
//! `InsufficientAccessError`: the identity lacks read access), 404 (`PathNotFoundError`: no such
//! app) (Microsoft Learn, "Azure Monitor Log Analytics API errors").

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use serde::Deserialize;
use serde_json::Value;

use super::TelemetryError;
use super::rows::Row;

/// The public cloud's query endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.applicationinsights.io";
/// The token scope of the query API.
pub const SCOPE: &str = "https://api.applicationinsights.io/.default";
/// How far back a query looks (Application Insights keeps 90 days by default).
pub const TIMESPAN: &str = "P30D";

/// A query client for one Application Insights resource.
#[derive(Clone)]
pub struct QueryClient {
    endpoint: String,
    app_id: String,
    credential: Option<Arc<dyn TokenCredential>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for QueryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryClient")
            .field("endpoint", &self.endpoint)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    tables: Vec<Table>,
}

#[derive(Deserialize)]
struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
}

#[derive(Deserialize)]
struct Column {
    name: String,
}

impl QueryClient {
    /// A client for app `app_id` at `endpoint`, with a token from `credential`. A token goes
    /// over `https`, or over plain `http` only to a loopback address (a test server).
    pub fn new(
        endpoint: &str,
        app_id: &str,
        credential: Option<Arc<dyn TokenCredential>>,
    ) -> Result<Self, TelemetryError> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| TelemetryError::Usage(format!("--query-endpoint {endpoint}: {e}")))?;
        let loopback = matches!(
            url.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || url.host_str() == Some("localhost");
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(TelemetryError::Usage(format!(
                "--query-endpoint {endpoint}: a token goes only over https (plain http only to a loopback address)"
            )));
        }
        let valid_app = !app_id.is_empty()
            && app_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid_app {
            return Err(TelemetryError::Usage(format!(
                "--app-id {app_id:?}: expected the Application ID of the Application Insights resource (a GUID, from its API Access blade or `az monitor app-insights component show --query appId`)"
            )));
        }
        let http = super::http_client(Duration::from_secs(10))?;
        Ok(Self {
            endpoint,
            app_id: app_id.to_owned(),
            credential,
            http,
        })
    }

    /// Where queries go.
    pub fn url(&self) -> String {
        format!("{}/v1/apps/{}/query", self.endpoint, self.app_id)
    }

    /// Run `query` and read its first table as rows.
    pub async fn rows(&self, query: &str) -> Result<Vec<Row>, TelemetryError> {
        let mut request = self
            .http
            .post(self.url())
            .json(&serde_json::json!({ "query": query, "timespan": TIMESPAN }));
        if let Some(credential) = &self.credential {
            let token = credential
                .get_token(&[SCOPE], None)
                .await
                .map_err(|e| TelemetryError::Unauthorized(format!("no token for {SCOPE}: {e}")))?;
            request = request.bearer_auth(token.token.secret());
        }
        let url = self.url();
        let response = request
            .send()
            .await
            .map_err(|e| TelemetryError::Unreachable(format!("{url}: {}", super::chain(&e))))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| TelemetryError::Unreachable(format!("{url}: reading the answer: {e}")))?;
        if status != 200 {
            return Err(error_of(status, &body, &self.app_id));
        }
        let answer: Answer = serde_json::from_str(&body)
            .map_err(|e| TelemetryError::Query(format!("{url}: not a query answer ({e})")))?;
        let Some(table) = answer.tables.into_iter().next() else {
            return Ok(Vec::new());
        };
        let columns: Vec<String> = table.columns.into_iter().map(|c| c.name).collect();
        table
            .rows
            .iter()
            .map(|cells| Row::from_cells(&columns, cells).map_err(TelemetryError::Query))
            .collect()
    }
}

/// The error of a non-200 answer, by status, with the service's own code and message.
fn error_of(status: u16, body: &str, app_id: &str) -> TelemetryError {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = parsed["error"]["code"].as_str().unwrap_or("");
    let message = parsed["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| body.chars().take(200).collect());
    let inner = parsed["error"]["innererror"]["message"].as_str();
    let said = match inner {
        Some(inner) => format!("{code}: {message} ({inner})"),
        None => format!("{code}: {message}"),
    };
    match status {
        401 => TelemetryError::Unauthorized(format!(
            "the query API refused the request (401 {said}); sign in (`az login`) or check the managed identity"
        )),
        403 => TelemetryError::Forbidden(format!(
            "the query API answered 403 {said}: the identity may not read Application Insights app {app_id}; grant it the \"Reader\" role on the Application Insights resource (Terraform: var.telemetry_reader_principal_ids)"
        )),
        404 => TelemetryError::AppNotFound(format!(
            "no Application Insights app {app_id} (404 {said}); pass the resource's Application ID (not its instrumentation key or resource id)"
        )),
        _ => TelemetryError::Query(format!("the query API answered {status} {said}")),
    }
}
