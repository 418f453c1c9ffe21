//! `thumbnail`: produce a thumbnail of an image (`job-types/thumbnail/v1`).

use std::time::Duration;

use jobs::{Job, JobContext, Outcome};
use serde::Deserialize;

/// The thumbnail job.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// Simulated work per run.
    pub delay: Duration,
}

/// The payload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThumbnailPayload {
    /// The image (`https://` only).
    pub image_url: String,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
}

impl Job for Thumbnail {
    const NAME: &'static str = "thumbnail";
    type Payload = ThumbnailPayload;

    async fn run(&self, _payload: ThumbnailPayload, _cx: &JobContext) -> Outcome {
        super::simulate(self.delay).await;
        Outcome::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn runs_without_the_host() {
        let payload: ThumbnailPayload = serde_json::from_value(
            json!({"imageUrl": "https://images.example/cat.png", "width": 64, "height": 64}),
        )
        .unwrap();
        let cx = JobContext {
            job_id: uuid::Uuid::now_v7(),
            tenant_id: "fabrikam".into(),
            correlation_id: "c".into(),
            job_version: 1,
            attempt: 1,
            delivery_count: 3,
        };
        let job = Thumbnail {
            delay: Duration::from_millis(1),
        };
        assert_eq!(job.run(payload, &cx).await, Outcome::Done);
    }
}
