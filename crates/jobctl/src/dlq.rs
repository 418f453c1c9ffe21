//! Dead-letter operations over the REST API's peek-lock on `{queue}/$DeadLetterQueue`. The REST
//! API has no non-destructive peek, so `peek` locks up to N dead letters and unlocks them again;
//! `resubmit` sends a copy of each selected one to the queue and only then deletes it (at least
//! once: a failure in between leaves a duplicate, never a loss); `purge` deletes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use servicebus::{OutgoingMessage, ReceivedMessage, ServiceBusClient, dead_letter_path};

use crate::error::CliError;
use crate::selection::Selection;

/// Seconds a receive waits for the next dead letter before calling the subqueue empty.
const WAIT_SECS: u32 = 1;

/// One dead letter, as shown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterRow {
    /// `SequenceNumber`.
    pub sequence_number: i64,
    /// `MessageId`.
    pub message_id: String,
    /// `DeadLetterReason`.
    pub reason: String,
    /// `DeadLetterErrorDescription`.
    pub description: String,
    /// `DeliveryCount`.
    pub delivery_count: u32,
    /// `EnqueuedTimeUtc`.
    pub enqueued_time: Option<DateTime<Utc>>,
    /// `CorrelationId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Custom properties other than the dead-letter ones.
    pub properties: BTreeMap<String, String>,
    /// The body text.
    pub body: String,
}

impl From<&ReceivedMessage> for DeadLetterRow {
    fn from(m: &ReceivedMessage) -> Self {
        Self {
            sequence_number: m.sequence_number,
            message_id: m.message_id.clone(),
            reason: m.dead_letter_reason().unwrap_or_default().to_owned(),
            description: m.dead_letter_description().unwrap_or_default().to_owned(),
            delivery_count: m.delivery_count,
            enqueued_time: m.enqueued_time,
            correlation_id: m.correlation_id.clone(),
            properties: application_properties(m),
            body: m.body.clone(),
        }
    }
}

fn application_properties(m: &ReceivedMessage) -> BTreeMap<String, String> {
    m.properties
        .iter()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case("DeadLetterReason")
                && !k.eq_ignore_ascii_case("DeadLetterErrorDescription")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Up to `max` dead letters of `queue`, oldest first; they are unlocked again afterwards.
pub async fn peek(
    client: &ServiceBusClient,
    queue: &str,
    max: usize,
) -> Result<Vec<DeadLetterRow>, CliError> {
    let dlq = dead_letter_path(queue);
    let mut locked = Vec::new();
    let mut outcome = Ok(());
    while locked.len() < max {
        match client.peek_lock(&dlq, WAIT_SECS).await {
            Ok(Some(m)) => locked.push(m),
            Ok(None) => break,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let rows = locked.iter().map(DeadLetterRow::from).collect();
    release(client, &locked).await;
    outcome?;
    Ok(rows)
}

/// Unlock messages we hold; a lock already lost is fine (it lapsed on its own).
async fn release(client: &ServiceBusClient, held: &[ReceivedMessage]) {
    for m in held {
        let _ = client.unlock(m).await;
    }
}

/// What `resubmit` did (or, with a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResubmitReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The selected dead letters.
    pub selected: Vec<DeadLetterRow>,
    /// Dead letters looked at but not selected.
    pub skipped: usize,
}

/// The copy of a dead letter put back on the queue: same body, correlation and application
/// properties; a new `MessageId` (`<id>/r<sequence>`, so duplicate detection does not drop it);
/// and, for a job envelope, no `attempt` field, so the job starts a fresh retry budget.
pub fn resubmission(m: &ReceivedMessage) -> OutgoingMessage {
    let mut body = m.body.clone();
    if let Ok(serde_json::Value::Object(mut envelope)) = serde_json::from_str(&m.body)
        && envelope.contains_key("envelopeVersion")
        && envelope.remove("attempt").is_some()
    {
        body = serde_json::Value::Object(envelope).to_string();
    }
    let mut copy = OutgoingMessage::new(body);
    copy.message_id = Some(format!("{}/r{}", m.message_id, m.sequence_number));
    copy.correlation_id = m.correlation_id.clone();
    copy.content_type = m.content_type.clone();
    copy.properties = application_properties(m);
    copy.properties.remove("attempt");
    copy.properties
        .insert("resubmittedFrom".into(), m.message_id.clone());
    copy
}

/// Resubmit the selected dead letters of `queue`.
pub async fn resubmit(
    client: &ServiceBusClient,
    queue: &str,
    selection: &Selection,
    dry_run: bool,
) -> Result<ResubmitReport, CliError> {
    let dlq = dead_letter_path(queue);
    let mut report = ResubmitReport {
        dry_run,
        ..ResubmitReport::default()
    };
    // Messages not taken stay locked until the end, so the loop does not see them again.
    let mut held = Vec::new();
    let outcome = async {
        while let Some(m) = client.peek_lock(&dlq, WAIT_SECS).await? {
            if !selection.matches(&m) {
                report.skipped += 1;
                held.push(m);
                continue;
            }
            if dry_run {
                report.selected.push(DeadLetterRow::from(&m));
                held.push(m);
                continue;
            }
            if let Err(e) = client.send(queue, &resubmission(&m)).await {
                held.push(m);
                return Err(CliError::from(e));
            }
            client.complete(&m).await?;
            report.selected.push(DeadLetterRow::from(&m));
        }
        Ok(())
    }
    .await;
    release(client, &held).await;
    outcome.map(|()| report)
}

/// Delete every dead letter of `queue`; how many were deleted.
pub async fn purge(client: &ServiceBusClient, queue: &str) -> Result<u64, CliError> {
    let dlq = dead_letter_path(queue);
    let mut deleted = 0;
    while let Some(m) = client.peek_lock(&dlq, WAIT_SECS).await? {
        client.complete(&m).await?;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(body: &str) -> ReceivedMessage {
        let mut properties = BTreeMap::new();
        properties.insert("DeadLetterReason".into(), "MaxDeliveryCountExceeded".into());
        properties.insert("attempt".into(), "4".into());
        properties.insert("jobId".into(), "j".into());
        ReceivedMessage {
            entity: "jobs/$DeadLetterQueue".into(),
            body: body.into(),
            message_id: "j:4".into(),
            correlation_id: Some("c".into()),
            content_type: Some("application/json".into()),
            sequence_number: 17,
            delivery_count: 5,
            lock_token: "t".into(),
            enqueued_time: None,
            locked_until: None,
            properties,
            location: None,
        }
    }

    #[test]
    fn a_resubmitted_envelope_starts_a_fresh_retry_budget() {
        let copy = resubmission(&dead(r#"{"envelopeVersion":1,"attempt":4,"jobId":"j"}"#));
        let body: serde_json::Value = serde_json::from_str(&copy.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"envelopeVersion": 1, "jobId": "j"})
        );
        assert_eq!(copy.message_id.as_deref(), Some("j:4/r17"));
        assert_eq!(copy.correlation_id.as_deref(), Some("c"));
        assert_eq!(copy.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            copy.properties.keys().collect::<Vec<_>>(),
            ["jobId", "resubmittedFrom"]
        );
        let other = resubmission(&dead("not json {"));
        assert_eq!(
            other.body, "not json {",
            "other bodies are copied as they are"
        );
    }
}
