//! `dlq summary`: every dead letter grouped by reason x job type x error x hour enqueued, with
//! counts, oldest and newest, so a thousand dead letters read as their few causes. The error is
//! `DeadLetterErrorDescription` with what varies per message (GUIDs, ids, numbers, times) masked.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use serde::Serialize;
use servicebus::ReceivedMessage;

use crate::output::{shorten, table};
use crate::selection::JobFacts;

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// `DeadLetterReason`.
    pub reason: String,
    /// The job type (or what the body is instead).
    pub job_type: String,
    /// The normalised `DeadLetterErrorDescription`.
    pub error: String,
    /// The hour (UTC) the messages were enqueued in.
    pub hour: Option<DateTime<Utc>>,
    /// How many.
    pub count: u64,
    /// Earliest `EnqueuedTimeUtc` in the group.
    pub oldest: Option<DateTime<Utc>>,
    /// Latest `EnqueuedTimeUtc` in the group.
    pub newest: Option<DateTime<Utc>>,
}

/// The whole summary.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Dead letters read.
    pub total: u64,
    /// Whether every dead letter was read (see `dlq summary --help`).
    pub complete: bool,
    /// Groups, largest first.
    pub groups: Vec<Group>,
}

type Key = (String, String, String, Option<DateTime<Utc>>);

/// Builds a [`Summary`] one dead letter at a time.
#[derive(Debug, Default)]
pub struct Tally(BTreeMap<Key, Group>);

impl Tally {
    /// Count `m`.
    pub fn add(&mut self, m: &ReceivedMessage, facts: &JobFacts) {
        let reason = m.dead_letter_reason().unwrap_or("(none)").to_owned();
        let error = normalise(m.dead_letter_description().unwrap_or_default());
        let hour = m
            .enqueued_time
            .and_then(|t| t.duration_trunc(TimeDelta::hours(1)).ok());
        let key = (reason.clone(), facts.job_type_label(), error.clone(), hour);
        let group = self.0.entry(key).or_insert_with(|| Group {
            reason,
            job_type: facts.job_type_label(),
            error,
            hour,
            count: 0,
            oldest: m.enqueued_time,
            newest: m.enqueued_time,
        });
        group.count += 1;
        group.oldest = match (group.oldest, m.enqueued_time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        group.newest = group.newest.max(m.enqueued_time);
    }

    /// The summary, largest groups first (then by hour, reason, job type, error).
    pub fn finish(self, complete: bool) -> Summary {
        let mut groups: Vec<Group> = self.0.into_values().collect();
        groups.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.hour.cmp(&b.hour))
                .then(a.reason.cmp(&b.reason))
                .then(a.job_type.cmp(&b.job_type))
                .then(a.error.cmp(&b.error))
        });
        Summary {
            total: groups.iter().map(|g| g.count).sum(),
            complete,
            groups,
        }
    }
}

/// Mask what varies between messages of one cause: GUIDs become `<guid>`, long tokens with
/// digits (ids, hashes, timestamps) `<id>`, other digit runs `<n>`; whitespace is collapsed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            out.push_str(&mask(token));
            token.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '+') {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            if c.is_whitespace() {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            } else {
                out.push(c);
            }
        }
    }
    flush(&mut token, &mut out);
    out.trim().to_owned()
}

fn mask(token: &str) -> String {
    // Sentence punctuation stays outside the token.
    let core = token.trim_end_matches(['.', ':']);
    let tail = &token[core.len()..];
    if !core.chars().any(|c| c.is_ascii_digit()) {
        return token.to_owned();
    }
    let masked = if is_guid(core) {
        "<guid>".to_owned()
    } else if core.chars().count() >= 8 {
        "<id>".to_owned()
    } else {
        let mut s = String::new();
        let mut in_digits = false;
        for c in core.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    s.push_str("<n>");
                }
                in_digits = true;
            } else {
                in_digits = false;
                s.push(c);
            }
        }
        s
    };
    format!("{masked}{tail}")
}

/// Whether `s` is a GUID in its hyphenated form (8-4-4-4-12 hex digits).
pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The table.
pub fn render(s: &Summary) -> String {
    if s.groups.is_empty() {
        return "no dead letters".to_owned();
    }
    let at =
        |t: Option<DateTime<Utc>>, f: &str| t.map(|t| t.format(f).to_string()).unwrap_or_default();
    let rows: Vec<Vec<String>> = s
        .groups
        .iter()
        .map(|g| {
            vec![
                g.count.to_string(),
                g.reason.clone(),
                shorten(&g.job_type, 24),
                shorten(&g.error, 60),
                at(g.hour, "%Y-%m-%d %H:00"),
                at(g.oldest, "%H:%M:%S"),
                at(g.newest, "%H:%M:%S"),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "COUNT",
            "REASON",
            "JOB-TYPE",
            "ERROR",
            "HOUR (UTC)",
            "OLDEST",
            "NEWEST",
        ],
        &rows,
    );
    out.push_str(&format!(
        "\n{} dead letter(s) in {} group(s)",
        s.total,
        s.groups.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_what_varies() {
        assert_eq!(
            normalise("Message could not be consumed after 10 delivery attempts."),
            "Message could not be consumed after <n> delivery attempts."
        );
        assert_eq!(
            normalise("job 0193a1c2-7f3e-7cc1-9a4b-0123456789ab failed on attempt 3, delivery 2"),
            "job <guid> failed on attempt <n>, delivery <n>"
        );
        assert_eq!(
            normalise("unknown job type \"report\" v12 at 2026-12-01T10:00:00Z (id a1b2c3d4e5)"),
            "unknown job type \"report\" v<n> at <id> (id <id>)"
        );
        assert_eq!(normalise("  a\n\tb  "), "a b");
        assert_eq!(normalise(""), "");
    }

    fn dead(seq: i64, description: &str, at: &str) -> ReceivedMessage {
        let mut properties = std::collections::BTreeMap::new();
        properties.insert("deadletterreason".into(), "MaxDeliveryCountExceeded".into());
        properties.insert("deadlettererrordescription".into(), description.into());
        ReceivedMessage {
            entity: "jobs/$DeadLetterQueue".into(),
            body: r#"{"jobType":"report"}"#.into(),
            message_id: format!("m{seq}"),
            correlation_id: None,
            content_type: None,
            sequence_number: seq,
            delivery_count: 2,
            lock_token: "t".into(),
            enqueued_time: DateTime::parse_from_rfc3339(at)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            locked_until: None,
            properties,
            location: None,
        }
    }

    #[test]
    fn groups_by_cause_and_hour() {
        let mut t = Tally::default();
        for (seq, d, at) in [
            (1, "failed after 2 tries", "2026-12-01T10:05:00Z"),
            (2, "failed after 3 tries", "2026-12-01T10:55:00Z"),
            (3, "failed after 2 tries", "2026-12-01T09:59:59Z"),
            (4, "failed after 2 tries", "2026-12-01T10:30:00Z"),
        ] {
            let m = dead(seq, d, at);
            t.add(&m, &JobFacts::of(&m));
        }
        let s = t.finish(true);
        assert_eq!(s.total, 4);
        assert_eq!(s.groups.len(), 2);
        let g = &s.groups[0];
        assert_eq!((g.count, g.error.as_str()), (3, "failed after <n> tries"));
        assert_eq!(g.hour.unwrap().to_rfc3339(), "2026-12-01T10:00:00+00:00");
        assert_eq!(g.oldest.unwrap().to_rfc3339(), "2026-12-01T10:05:00+00:00");
        assert_eq!(g.newest.unwrap().to_rfc3339(), "2026-12-01T10:55:00+00:00");
        assert!(render(&s).ends_with("4 dead letter(s) in 2 group(s)"));
    }
}
