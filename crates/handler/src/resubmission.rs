//! Whether a delivered message is a resubmission from the dead-letter queue.
//!
//! `jobctl dlq resubmit` (crates/jobctl `dlq::resubmission`) sends each copy with the MessageId
//! `<original>/r<sequence number of the dead letter>` and the application properties
//! `resubmittedFrom` (the dead letter's MessageId) and `resubmittedFromSequence`. Other tools
//! (Service Bus Explorer, the portal) resubmit without them; those copies are new messages to
//! the handler. This is the one place the handler reads the marks.

use wire::ServiceBusMetadata;

/// Application property: the MessageId of the dead letter this message is a copy of.
pub const RESUBMITTED_FROM: &str = "resubmittedFrom";
/// Application property: the dead letter's sequence number.
pub const RESUBMITTED_FROM_SEQUENCE: &str = "resubmittedFromSequence";

/// Where a resubmitted copy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resubmission {
    /// The dead letter's MessageId (`None` when only the MessageId suffix says so).
    pub from: Option<String>,
    /// The dead letter's sequence number.
    pub sequence: Option<i64>,
}

/// The resubmission marks of a delivery: the application properties when present (looked up
/// ignoring case), else a MessageId ending in `/r<digits>` on a message that is not a backoff
/// copy (no `attempt` property).
pub fn resubmission(metadata: &ServiceBusMetadata) -> Option<Resubmission> {
    let property = |name: &str| {
        metadata
            .application_properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| wire::encoding::decode_string(v))
            .filter(|v| !v.is_empty())
    };
    let from = property(RESUBMITTED_FROM);
    let mut sequence = property(RESUBMITTED_FROM_SEQUENCE).and_then(|s| s.parse().ok());
    if from.is_none() && sequence.is_none() {
        // A backoff copy (it carries `attempt`, crates/handler `retry::scheduler`) is never a
        // resubmission, whatever its MessageId looks like.
        if property("attempt").is_some() {
            return None;
        }
        let id = metadata.message_id.as_deref()?;
        let (head, tail) = id.rsplit_once("/r")?;
        if head.is_empty() || tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        sequence = tail.parse().ok();
    }
    Some(Resubmission { from, sequence })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(id: &str, props: serde_json::Value) -> ServiceBusMetadata {
        ServiceBusMetadata {
            message_id: Some(id.into()),
            application_properties: props.as_object().cloned().unwrap_or_default(),
            ..ServiceBusMetadata::default()
        }
    }

    #[test]
    fn reads_the_redrive_marks() {
        let m = meta(
            "abc/r17",
            json!({"ResubmittedFrom": "abc", "resubmittedFromSequence": "17"}),
        );
        assert_eq!(
            resubmission(&m),
            Some(Resubmission {
                from: Some("abc".into()),
                sequence: Some(17)
            })
        );
        assert_eq!(
            resubmission(&meta("j:2/r9", json!({}))),
            Some(Resubmission {
                from: None,
                sequence: Some(9)
            })
        );
        for plain in ["088f0b", "j:2", "report/r", "/r5", "x/rx"] {
            assert_eq!(resubmission(&meta(plain, json!({}))), None, "{plain}");
        }
        // A backoff copy whose id carries a resubmission suffix is still a backoff copy.
        for copy in ["j/r9:2", "j:2/r9"] {
            assert_eq!(resubmission(&meta(copy, json!({"attempt": "2"}))), None);
        }
    }
}
