//! The devhost's captured telemetry: `GET {devhost}/admin/telemetry`, the Breeze envelopes the
//! handler exported (and the devhost's own host rows) as JSON lines.

use std::time::Duration;

use super::TelemetryError;
use super::rows::Row;

/// The devhost's telemetry capture.
#[derive(Debug, Clone)]
pub struct DevhostTelemetry {
    url: String,
    http: reqwest::Client,
}

impl DevhostTelemetry {
    /// The capture of the devhost at `url` (`http://127.0.0.1:7071`).
    pub fn new(url: &str) -> Result<Self, TelemetryError> {
        let url = url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&url)
            .map_err(|e| TelemetryError::Usage(format!("--devhost {url}: {e}")))?;
        let http = super::http_client(Duration::from_secs(5))?;
        Ok(Self { url, http })
    }

    /// The devhost's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every handler span row captured (the devhost's own host rows carry no job id).
    pub async fn rows(&self) -> Result<Vec<Row>, TelemetryError> {
        let url = format!("{}/admin/telemetry", self.url);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| TelemetryError::Unreachable(format!("{url}: {}", super::chain(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(TelemetryError::Query(format!(
                "{url} answered {status}: is this a devhost (`devhost start`)?"
            )));
        }
        let text = response
            .text()
            .await
            .map_err(|e| TelemetryError::Unreachable(format!("{url}: reading the answer: {e}")))?;
        let mut rows = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let envelope: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                TelemetryError::Query(format!("{url}: line {} is not JSON: {e}", i + 1))
            })?;
            rows.extend(Row::from_envelope(&envelope));
        }
        Ok(rows)
    }
}
