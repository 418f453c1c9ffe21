//! `report`: render a named report over a number of rows (`job-types/report/v1`, `v2`).

use std::time::Duration;

use jobs::{Job, JobContext, Outcome};
use serde::Deserialize;

/// Most rows a PDF report holds; larger ones fail for good (another format is needed).
pub const MAX_PDF_ROWS: u32 = 100_000;

/// The report job.
#[derive(Debug, Clone)]
pub struct Report {
    /// Simulated work per run.
    pub delay: Duration,
}

/// The payload of every version: v2 added `format` and `recipients`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportPayload {
    /// Which report.
    pub report_name: String,
    /// Rows to render.
    pub rows: u32,
    /// Output format (v2; v1 reports are CSV).
    #[serde(default)]
    pub format: Format,
    /// Who gets it (v2).
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values.
    #[default]
    Csv,
    /// Apache Parquet.
    Parquet,
    /// PDF, at most [`MAX_PDF_ROWS`] rows.
    Pdf,
}

impl Job for Report {
    const NAME: &'static str = "report";
    type Payload = ReportPayload;

    async fn run(&self, payload: ReportPayload, _cx: &JobContext) -> Outcome {
        if payload.format == Format::Pdf && payload.rows > MAX_PDF_ROWS {
            return Outcome::Permanent(format!(
                "a pdf report holds at most {MAX_PDF_ROWS} rows and \"{}\" asks for {}: ask for csv or parquet",
                payload.report_name, payload.rows
            ));
        }
        super::simulate(self.delay).await;
        Outcome::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> JobContext {
        JobContext {
            job_id: uuid::Uuid::now_v7(),
            tenant_id: "contoso".into(),
            correlation_id: "c".into(),
            job_version: 2,
            attempt: 1,
            delivery_count: 1,
        }
    }

    fn payload(value: serde_json::Value) -> ReportPayload {
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn renders_v1_and_v2_payloads() {
        let job = Report {
            delay: Duration::ZERO,
        };
        let v1 = payload(json!({"reportName": "daily", "rows": 100}));
        assert_eq!(v1.format, Format::Csv);
        assert_eq!(job.run(v1, &context()).await, Outcome::Done);
        let v2 = payload(
            json!({"reportName": "daily", "rows": 100, "format": "pdf", "recipients": ["a@b.example"]}),
        );
        assert_eq!(job.run(v2, &context()).await, Outcome::Done);
    }

    #[tokio::test]
    async fn an_oversized_pdf_fails_for_good() {
        let job = Report {
            delay: Duration::ZERO,
        };
        let big = payload(json!({"reportName": "all", "rows": MAX_PDF_ROWS + 1, "format": "pdf"}));
        match job.run(big, &context()).await {
            Outcome::Permanent(reason) => {
                assert!(reason.contains("at most 100000 rows"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let csv = payload(json!({"reportName": "all", "rows": MAX_PDF_ROWS + 1, "format": "csv"}));
        assert_eq!(job.run(csv, &context()).await, Outcome::Done);
    }
}
