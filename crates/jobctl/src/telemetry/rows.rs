//! The handler's per-job telemetry as rows of the Application Insights `requests` and
//! `dependencies` tables, whichever store they come from.
//!
//! Application Insights turns each ingested Breeze envelope into one row: `RequestData` into
//! `requests` and `RemoteDependencyData` into `dependencies`, with `time` as `timestamp`, the
//! `hh:mm:ss.ffffff` duration as milliseconds, `properties` as `customDimensions` and the tag
//! `ai.operation.id` as `operation_Id` (Microsoft Learn, "Application Insights telemetry data
//! model" and "Data collection, retention and storage": the Breeze schema). [`Row::from_envelope`]
//! does the same for the devhost's capture, so one reader serves both.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// One `requests` or `dependencies` row of the handler's spans.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// `timestamp`: when the span started.
    pub timestamp: DateTime<Utc>,
    /// `itemType`: `request` or `dependency`.
    pub item_type: String,
    /// `name` (`ProcessJob`, `IngestJob`).
    pub name: String,
    /// `duration` in milliseconds.
    pub duration_ms: f64,
    /// `success`.
    pub success: bool,
    /// `resultCode`.
    pub result_code: String,
    /// `customDimensions`: the span's attributes.
    pub dimensions: Map<String, Value>,
}

impl Row {
    /// The row Application Insights would store for a captured envelope; `None` for other
    /// telemetry (metrics, traces) and envelopes it could not read.
    pub fn from_envelope(envelope: &Value) -> Option<Self> {
        let item_type = match envelope["data"]["baseType"].as_str()? {
            "RequestData" => "request",
            "RemoteDependencyData" => "dependency",
            _ => return None,
        };
        let base = &envelope["data"]["baseData"];
        let timestamp = envelope["time"].as_str()?.parse().ok()?;
        let result_code = base["responseCode"]
            .as_str()
            .or_else(|| base["resultCode"].as_str())
            .unwrap_or_default()
            .to_owned();
        Some(Self {
            timestamp,
            item_type: item_type.to_owned(),
            name: base["name"].as_str().unwrap_or_default().to_owned(),
            duration_ms: base["duration"].as_str().and_then(breeze_ms).unwrap_or(0.0),
            success: base["success"].as_bool().unwrap_or(true),
            result_code,
            dimensions: base["properties"].as_object().cloned().unwrap_or_default(),
        })
    }

    /// A row of a query answer: `columns` names each cell of `cells`. `customDimensions` may
    /// come as an object or, as the query API returns a `dynamic` column, as its JSON text.
    pub fn from_cells(columns: &[String], cells: &[Value]) -> Result<Self, String> {
        let cell = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .and_then(|i| cells.get(i))
                .unwrap_or(&Value::Null)
        };
        let text = |name: &str| match cell(name) {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let timestamp = text("timestamp")
            .parse()
            .map_err(|e| format!("timestamp {:?}: {e}", text("timestamp")))?;
        let dimensions = match cell("customDimensions") {
            Value::Object(m) => m.clone(),
            Value::String(s) if !s.is_empty() => serde_json::from_str(s)
                .map_err(|e| format!("customDimensions is not a JSON object: {e}"))?,
            _ => Map::new(),
        };
        let success = match cell("success") {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => true,
        };
        Ok(Self {
            timestamp,
            item_type: text("itemType"),
            name: text("name"),
            duration_ms: cell("duration").as_f64().unwrap_or(0.0),
            success,
            result_code: text("resultCode"),
            dimensions,
        })
    }

    /// A dimension as text (numbers and booleans as their JSON text).
    pub fn dim(&self, key: &str) -> Option<String> {
        match self.dimensions.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A dimension as an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.dim(key).and_then(|s| s.parse().ok())
    }

    /// The job id of the row (`job.id`).
    pub fn job_id(&self) -> Option<String> {
        self.dim("job.id")
    }
}

/// `[d.]hh:mm:ss[.fffffff]` in milliseconds.
fn breeze_ms(text: &str) -> Option<f64> {
    let (days, rest) = match text.split_once('.') {
        Some((d, rest)) if !d.contains(':') => (d.parse::<f64>().ok()?, rest),
        _ => (0.0, text),
    };
    let mut parts = rest.splitn(3, ':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some((((days * 24.0 + h) * 60.0 + m) * 60.0 + s) * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_and_query_cells_give_the_same_row() {
        let envelope = json!({
            "name": "Microsoft.ApplicationInsights.Request",
            "time": "2026-12-01T10:00:00.250Z",
            "data": {"baseType": "RequestData", "baseData": {
                "name": "ProcessJob", "duration": "00:00:01.500000", "success": false,
                "responseCode": "500", "properties": {"job.id": "j", "job.attempt": "2"}}}
        });
        let a = Row::from_envelope(&envelope).unwrap();
        assert_eq!(
            (a.duration_ms, a.success, a.int("job.attempt")),
            (1500.0, false, Some(2))
        );
        let columns: Vec<String> = [
            "timestamp",
            "itemType",
            "name",
            "duration",
            "success",
            "resultCode",
            "customDimensions",
        ]
        .map(String::from)
        .into();
        let cells = [
            json!("2026-12-01T10:00:00.25Z"),
            json!("request"),
            json!("ProcessJob"),
            json!(1500.0),
            json!("False"),
            json!("500"),
            json!(r#"{"job.id":"j","job.attempt":"2"}"#),
        ];
        assert_eq!(Row::from_cells(&columns, &cells).unwrap(), a);
        assert_eq!(breeze_ms("1.00:00:00.5"), Some(86_400_500.0));
        assert!(Row::from_envelope(&json!({"data": {"baseType": "MetricData"}})).is_none());
    }
}
