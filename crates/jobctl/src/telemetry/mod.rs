//! Where a job's telemetry is read: the devhost's captured Application Insights telemetry
//! (locally) or the Application Insights query API (in Azure). Both give the same
//! [`rows::Row`]s, which [`crate::timeline`] and [`crate::audit`] read.

pub mod devhost;
pub mod query;
pub mod rows;

use thiserror::Error;

use rows::Row;

/// Why telemetry could not be read.
#[derive(Debug, Error)]
pub enum TelemetryError {
    /// A flag or setting is wrong.
    #[error("{0}")]
    Usage(String),
    /// The endpoint could not be reached (connection refused, DNS, timeout).
    #[error("telemetry endpoint unreachable: {0}")]
    Unreachable(String),
    /// No token, or the service refused it (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The identity lacks read access (403).
    #[error("{0}")]
    Forbidden(String),
    /// The Application Insights app does not exist (404).
    #[error("{0}")]
    AppNotFound(String),
    /// The query or its answer is wrong.
    #[error("telemetry query failed: {0}")]
    Query(String),
}

/// A telemetry store.
#[derive(Debug, Clone)]
pub enum Source {
    /// The devhost at this base URL (`http://127.0.0.1:7071`).
    Devhost(devhost::DevhostTelemetry),
    /// Application Insights.
    AppInsights(query::QueryClient),
}

impl Source {
    /// Every span row of job `job_id` (a validated UUID), oldest first.
    pub async fn job(&self, job_id: &str) -> Result<Vec<Row>, TelemetryError> {
        let mut rows = match self {
            Self::Devhost(d) => d
                .rows()
                .await?
                .into_iter()
                .filter(|r| r.job_id().as_deref() == Some(job_id))
                .collect(),
            Self::AppInsights(q) => q.rows(&job_query(job_id)).await?,
        };
        rows.sort_by_key(|r| r.timestamp);
        Ok(rows)
    }

    /// Every `ProcessJob` row that carries a job id, oldest first.
    pub async fn attempts(&self) -> Result<Vec<Row>, TelemetryError> {
        let mut rows: Vec<Row> = match self {
            Self::Devhost(d) => d
                .rows()
                .await?
                .into_iter()
                .filter(|r| r.name == "ProcessJob" && r.job_id().is_some())
                .collect(),
            Self::AppInsights(q) => q.rows(ATTEMPTS_QUERY).await?,
        };
        rows.sort_by_key(|r| r.timestamp);
        Ok(rows)
    }

    /// Where the telemetry is read, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Devhost(d) => format!("the devhost's telemetry at {}", d.url()),
            Self::AppInsights(q) => format!("Application Insights ({})", q.url()),
        }
    }
}

/// The HTTP client both readers use: 60 s per request, `connect` to connect.
fn http_client(connect: std::time::Duration) -> Result<reqwest::Client, TelemetryError> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .connect_timeout(connect)
        .build()
        .map_err(|e| TelemetryError::Unreachable(format!("cannot build the HTTP client: {e}")))
}

/// The Kusto query of one job's spans (`job_id` is a UUID: nothing to escape).
pub fn job_query(job_id: &str) -> String {
    format!(
        "union requests, dependencies\n\
         | where tostring(customDimensions[\"job.id\"]) == \"{job_id}\"\n\
         | project timestamp, itemType, name, duration, success, resultCode, customDimensions\n\
         | order by timestamp asc"
    )
}

/// The Kusto query of every processing attempt (the per-job audit's input).
pub const ATTEMPTS_QUERY: &str = "requests\n\
    | where name == \"ProcessJob\" and isnotempty(tostring(customDimensions[\"job.id\"]))\n\
    | project timestamp, itemType, name, duration, success, resultCode, customDimensions\n\
    | order by timestamp asc";

/// An error and its sources, on one line.
pub use servicebus::chain;
