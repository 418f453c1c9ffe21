//! Dead-letter operations over the REST API's peek-lock on `{queue}/$DeadLetterQueue` (see
//! [`crate::scan`]: the REST API has no non-destructive peek, so reads lock and unlock): `peek`
//! shows some, `summary` groups all of them, `purge` deletes; the copy a resubmission sends is
//! built here and the redrive itself is [`crate::redrive`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use servicebus::{OutgoingMessage, ReceivedMessage, ServiceBusClient, dead_letter_path};

use crate::error::CliError;
use crate::progress::Progress;
use crate::scan;
use crate::selection::{JobFacts, Selection};
use crate::stop::Stop;
use crate::summary::{Summary, Tally};

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
    stop: &Stop,
) -> Result<Vec<DeadLetterRow>, CliError> {
    let dlq = dead_letter_path(queue);
    let mut held = Vec::new();
    let mut rows = Vec::new();
    let outcome = scan::lock_all(
        client,
        &dlq,
        Some(max),
        stop,
        &Progress::hidden(),
        &mut held,
        |m| rows.push(DeadLetterRow::from(m)),
    )
    .await;
    scan::release(client, &held).await;
    match outcome? {
        scan::End::Interrupted => Err(CliError::Interrupted(
            "interrupted; every lock taken was released".into(),
        )),
        _ => {
            rows.sort_by_key(|r| r.sequence_number);
            Ok(rows)
        }
    }
}

/// `dlq summary`: read every dead letter (selected by `selection`), group them, unlock them.
pub async fn summary(
    client: &ServiceBusClient,
    queue: &str,
    selection: &Selection,
    stop: &Stop,
    progress: &Progress,
) -> Result<(Summary, Option<CliError>), CliError> {
    let dlq = dead_letter_path(queue);
    let mut held = Vec::new();
    let mut tally = Tally::default();
    let outcome = scan::lock_all(client, &dlq, None, stop, progress, &mut held, |m| {
        let facts = JobFacts::of(m);
        if selection.matches(m, &facts) {
            tally.add(m, &facts);
        }
    })
    .await;
    progress.finish();
    scan::release(client, &held).await;
    let end = outcome?;
    let summary = tally.finish(end == scan::End::Exhausted);
    let warning = match end {
        scan::End::Exhausted | scan::End::Limit => None,
        scan::End::Lapsed => Some(CliError::Incomplete(lapsed(held.len()))),
        scan::End::Interrupted => Some(CliError::Interrupted(format!(
            "interrupted after reading {} dead letter(s); every lock taken was released: the summary is partial",
            summary.total
        ))),
    };
    Ok((summary, warning))
}

/// The message for a scan whose first locks lapsed before it ended.
pub fn lapsed(read: usize) -> String {
    format!(
        "incomplete: the first locks lapsed before the scan ended (after {read} dead letter(s)); the queue's lock duration is too short to hold them all at once, so the rest were not read"
    )
}

/// Application property of a resubmitted copy: the `MessageId` of the first message of the
/// chain (the original, before any resubmission), so copies of copies keep a short id.
pub const ORIGINAL_ID: &str = "originalMessageId";

/// The `MessageId` of the copy of dead letter `m`: `<original>/r<sequence number of m>`.
/// Deterministic (the same dead letter always gives the same id, so with duplicate detection on
/// the queue a retried or resumed send cannot make a second copy), and of constant length on
/// every pass: `<original>` is the chain's first id ([`ORIGINAL_ID`], else `m`'s id without
/// earlier `/r<n>` suffixes). Ids that would pass 128 characters are shortened with a hash
/// ([`servicebus::send::capped_message_id`]).
pub fn copy_message_id(m: &ReceivedMessage) -> String {
    let original = original_id(m);
    servicebus::send::capped_message_id(&original, &format!("/r{}", m.sequence_number))
}

fn original_id(m: &ReceivedMessage) -> String {
    if let Some(original) = m.property(ORIGINAL_ID).filter(|o| !o.is_empty()) {
        return original.to_owned();
    }
    let mut id = m.message_id.as_str();
    while let Some((head, tail)) = id.rsplit_once("/r") {
        if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) || head.is_empty() {
            break;
        }
        id = head;
    }
    id.to_owned()
}

/// The copy of a dead letter put back on the queue: same body, correlation and application
/// properties; the `MessageId` of [`copy_message_id`], with `resubmittedFrom` (the dead letter's
/// id), `resubmittedFromSequence` and [`ORIGINAL_ID`]; and, for a job envelope, no `attempt`
/// field, so the job starts a fresh retry budget.
pub fn resubmission(m: &ReceivedMessage) -> OutgoingMessage {
    let mut body = m.body.clone();
    if let Ok(serde_json::Value::Object(mut envelope)) = serde_json::from_str(&m.body)
        && envelope.contains_key("envelopeVersion")
        && envelope.remove("attempt").is_some()
    {
        body = serde_json::Value::Object(envelope).to_string();
    }
    let mut copy = OutgoingMessage::new(body);
    copy.message_id = Some(copy_message_id(m));
    copy.correlation_id = m.correlation_id.clone();
    copy.content_type = m.content_type.clone();
    copy.properties = application_properties(m);
    copy.properties
        .retain(|k, _| !k.eq_ignore_ascii_case("attempt") && !is_redrive_property(k));
    copy.properties
        .insert("resubmittedFrom".into(), m.message_id.clone());
    copy.properties.insert(
        "resubmittedFromSequence".into(),
        m.sequence_number.to_string(),
    );
    copy.properties.insert(ORIGINAL_ID.into(), original_id(m));
    copy
}

fn is_redrive_property(name: &str) -> bool {
    ["resubmittedFrom", "resubmittedFromSequence", ORIGINAL_ID]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// Delete every dead letter of `queue`; how many were deleted. Stops between messages on
/// Ctrl-C / SIGTERM.
pub async fn purge(client: &ServiceBusClient, queue: &str, stop: &Stop) -> Result<u64, CliError> {
    let dlq = dead_letter_path(queue);
    let mut deleted = 0;
    while !stop.requested() {
        let Some(m) = client.peek_lock(&dlq, scan::WAIT_SECS).await? else {
            return Ok(deleted);
        };
        client.complete(&m).await?;
        deleted += 1;
    }
    Err(CliError::Interrupted(format!(
        "interrupted after deleting {deleted} dead letter(s) of {queue}"
    )))
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
            [
                "jobId",
                "originalMessageId",
                "resubmittedFrom",
                "resubmittedFromSequence"
            ]
        );
        let other = resubmission(&dead("not json {"));
        assert_eq!(
            other.body, "not json {",
            "other bodies are copied as they are"
        );
    }

    #[test]
    fn copy_ids_are_deterministic_and_do_not_grow_pass_after_pass() {
        let mut m = dead("{}");
        assert_eq!(copy_message_id(&m), "j:4/r17");
        assert_eq!(copy_message_id(&m), copy_message_id(&m));
        // The copy dead-letters again under a new sequence number: its copy replaces the suffix.
        let copy = resubmission(&m);
        m.message_id = copy.message_id.clone().unwrap();
        m.properties = copy.properties.clone();
        m.sequence_number = 912;
        assert_eq!(copy_message_id(&m), "j:4/r912");
        assert_eq!(resubmission(&m).properties["originalMessageId"], "j:4");
        // Ids from before this rule (`/r` appended each pass) lose their suffixes.
        m.properties.clear();
        m.message_id = "j:4/r17/r30/r44".into();
        assert_eq!(copy_message_id(&m), "j:4/r912");
        m.message_id = "report/r".into();
        assert_eq!(copy_message_id(&m), "report/r/r912");
        // Never past Service Bus's 128 characters, and still distinct per original.
        m.message_id = "é".repeat(100);
        let long = copy_message_id(&m);
        assert!(long.len() <= 128 && long.ends_with("/r912"), "{long}");
        m.message_id = "é".repeat(101);
        assert_ne!(copy_message_id(&m), long);
    }
}
