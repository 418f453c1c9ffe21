//! Which dead letters `dlq resubmit` takes: all, some ids, or a filter.

use servicebus::ReceivedMessage;

use crate::error::CliError;

/// A selection of dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every dead letter.
    All,
    /// By `MessageId` or sequence number.
    Ids(Vec<String>),
    /// `DeadLetterReason` equal to this (case-insensitive).
    Reason(String),
    /// `DeadLetterErrorDescription` containing this (case-insensitive).
    Description(String),
}

impl Selection {
    /// Parse `--filter key=value` (`reason=...` or `description=...`).
    pub fn filter(text: &str) -> Result<Self, CliError> {
        let Some((key, value)) = text.split_once('=') else {
            return Err(CliError::Usage(format!(
                "--filter {text:?}: expected key=value, e.g. reason=MaxDeliveryCountExceeded"
            )));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(CliError::Usage(format!("--filter {text:?}: empty value")));
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "reason" => Ok(Self::Reason(value.to_owned())),
            "description" => Ok(Self::Description(value.to_owned())),
            other => Err(CliError::Usage(format!(
                "--filter key {other:?} is unknown: use reason=... or description=..."
            ))),
        }
    }

    /// Whether `message` is selected.
    pub fn matches(&self, message: &ReceivedMessage) -> bool {
        match self {
            Self::All => true,
            Self::Ids(ids) => ids.iter().any(|id| {
                *id == message.message_id || id.parse::<i64>().ok() == Some(message.sequence_number)
            }),
            Self::Reason(reason) => message
                .dead_letter_reason()
                .is_some_and(|r| r.eq_ignore_ascii_case(reason)),
            Self::Description(part) => message
                .dead_letter_description()
                .is_some_and(|d| d.to_lowercase().contains(&part.to_lowercase())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters() {
        assert_eq!(
            Selection::filter("reason=MaxDeliveryCountExceeded").unwrap(),
            Selection::Reason("MaxDeliveryCountExceeded".into())
        );
        assert_eq!(
            Selection::filter("Description = after 5").unwrap(),
            Selection::Description("after 5".into())
        );
        for bad in ["reason", "reason=", "colour=red"] {
            assert!(
                matches!(Selection::filter(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }
}
