//! `jobctl job <jobId>`: one job's timeline from its spans: ingest, each processing attempt
//! (copy, delivery count, outcome, latency), each reschedule with its delay, dead-lettering with
//! the reason, each resubmission, completion; and deliveries that left no span (the handler
//! crashed, or the lock was lost, before it answered).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::lives::{JobState, Lives, resubmitted};
use crate::telemetry::rows::Row;

/// One step of a job's life.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// `IngestJob` accepted the job.
    #[serde(rename_all = "camelCase")]
    Ingested {
        /// When.
        at: DateTime<Utc>,
        /// Job type version.
        job_version: Option<i64>,
        /// Correlation id.
        correlation_id: Option<String>,
    },
    /// The job came back from the dead-letter queue.
    #[serde(rename_all = "camelCase")]
    Resubmitted {
        /// First delivery of the copy.
        at: DateTime<Utc>,
        /// The dead letter's MessageId, when the redrive named it.
        from: Option<String>,
        /// The dead letter's sequence number.
        sequence: Option<i64>,
    },
    /// A delivery that left no span: the handler crashed or the lock was lost before it
    /// answered (the host's own `requests` row shows it).
    #[serde(rename_all = "camelCase")]
    Unrecorded {
        /// Seen before this time.
        before: DateTime<Utc>,
        /// The copy.
        attempt: i64,
        /// Its delivery count.
        delivery_count: i64,
    },
    /// One processing attempt.
    #[serde(rename_all = "camelCase")]
    Attempt {
        /// When it started.
        at: DateTime<Utc>,
        /// Which copy (1: the first, 2..: backoff copies; restarts at 1 after a resubmission).
        attempt: i64,
        /// The delivery count of this delivery of the copy.
        delivery_count: i64,
        /// `success`, or the failure kind (`simulated`, `transient`, `exhausted`, ...).
        outcome: String,
        /// Why it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Time the handler spent on it.
        latency_ms: f64,
    },
    /// A backoff copy was sent for the next attempt.
    #[serde(rename_all = "camelCase")]
    Rescheduled {
        /// When (the failed attempt).
        at: DateTime<Utc>,
        /// The copy's attempt.
        next_attempt: i64,
        /// The drawn delay.
        delay_ms: i64,
        /// `ScheduledEnqueueTimeUtc` of the copy.
        scheduled_for: Option<String>,
    },
    /// The last allowed delivery failed: the broker dead-lettered the message.
    #[serde(rename_all = "camelCase")]
    DeadLettered {
        /// When (the failed attempt).
        at: DateTime<Utc>,
        /// `DeadLetterReason`.
        reason: String,
    },
    /// The job's work completed.
    #[serde(rename_all = "camelCase")]
    Completed {
        /// When.
        at: DateTime<Utc>,
    },
}

/// A job's timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// The job.
    pub job_id: String,
    /// Its tenant.
    pub tenant_id: Option<String>,
    /// Its type.
    pub job_type: Option<String>,
    /// Where it stands (by its latest life).
    pub state: Option<JobState>,
    /// Resubmissions.
    pub resubmissions: usize,
    /// Oldest first.
    pub events: Vec<Event>,
}

/// The timeline of `job_id` from its rows (any order).
pub fn timeline(job_id: &str, rows: &[Row]) -> Timeline {
    let lives = Lives::of(rows);
    let first = rows.iter().min_by_key(|r| r.timestamp);
    let mut events = Vec::new();
    for r in rows.iter().filter(|r| r.name == "IngestJob") {
        events.push(Event::Ingested {
            at: r.timestamp,
            job_version: r.int("job.version"),
            correlation_id: r.dim("job.correlation_id"),
        });
    }
    let mut announced = 0;
    // The deliveries seen of each (life, attempt), to name the ones missing.
    let mut seen: BTreeMap<(usize, i64), Vec<i64>> = BTreeMap::new();
    for r in &lives.attempts {
        let life = lives.life_of(r);
        if life > announced && resubmitted(r) {
            announced = life;
            events.push(Event::Resubmitted {
                at: r.timestamp,
                from: r.dim("job.resubmitted_from"),
                sequence: r.int("job.resubmitted_from_sequence"),
            });
        }
        let attempt = r.int("job.attempt").unwrap_or(1);
        let delivery = r
            .int("messaging.servicebus.message.delivery_count")
            .unwrap_or(1);
        let earlier = seen.entry((life, attempt)).or_default();
        let last = earlier.iter().copied().max().unwrap_or(0);
        for missing in (last + 1)..delivery {
            events.push(Event::Unrecorded {
                before: r.timestamp,
                attempt,
                delivery_count: missing,
            });
        }
        earlier.push(delivery);
        let failure = r.dim("job.failure_kind");
        events.push(Event::Attempt {
            at: r.timestamp,
            attempt,
            delivery_count: delivery,
            outcome: failure.clone().unwrap_or_else(|| "success".into()),
            reason: failure.and(r.dim("job.failure_reason")),
            latency_ms: r.duration_ms,
        });
        match r.dim("job.end").as_deref() {
            Some("rescheduled") => events.push(Event::Rescheduled {
                at: r.timestamp,
                next_attempt: r.int("job.retry.attempt").unwrap_or(attempt + 1),
                delay_ms: r.int("job.retry.delay_ms").unwrap_or(0),
                scheduled_for: r.dim("job.retry.scheduled_for"),
            }),
            Some("deadLettered") => events.push(Event::DeadLettered {
                at: r.timestamp,
                reason: r
                    .dim("job.dead_letter_reason")
                    .unwrap_or_else(|| "MaxDeliveryCountExceeded".into()),
            }),
            Some("completed") => events.push(Event::Completed { at: r.timestamp }),
            _ => {}
        }
    }
    let dim = |key: &str| rows.iter().find_map(|r| r.dim(key));
    Timeline {
        job_id: job_id.to_owned(),
        tenant_id: dim("job.tenant_id"),
        job_type: dim("job.type"),
        state: (!lives.attempts.is_empty()).then(|| lives.state()),
        resubmissions: lives.resubmissions(),
        events: if first.is_some() { events } else { Vec::new() },
    }
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The timeline for people.
pub fn render(t: &Timeline) -> String {
    let state = match t.state {
        Some(JobState::Completed) => "completed",
        Some(JobState::DeadLettered) => "dead-lettered",
        Some(JobState::InFlight) => "in flight",
        None => "accepted, not processed yet",
    };
    let mut out = vec![format!(
        "job {} ({}, tenant {}): {state}{}",
        t.job_id,
        t.job_type.as_deref().unwrap_or("?"),
        t.tenant_id.as_deref().unwrap_or("?"),
        match t.resubmissions {
            0 => String::new(),
            1 => ", after 1 resubmission".into(),
            n => format!(", after {n} resubmissions"),
        }
    )];
    for e in &t.events {
        let (at, what) = match e {
            Event::Ingested {
                at,
                job_version,
                correlation_id,
            } => (
                time(at),
                format!(
                    "ingested (v{}, correlation {})",
                    job_version.unwrap_or(1),
                    correlation_id.as_deref().unwrap_or("-")
                ),
            ),
            Event::Resubmitted { at, from, sequence } => (
                time(at),
                format!(
                    "resubmitted from the dead-letter queue ({}{})",
                    from.as_deref().unwrap_or("dead letter"),
                    sequence
                        .map(|s| format!(", sequence {s}"))
                        .unwrap_or_default()
                ),
            ),
            Event::Unrecorded {
                before,
                attempt,
                delivery_count,
            } => (
                format!("before {}", time(before)),
                format!(
                    "attempt {attempt} delivery {delivery_count}: no outcome recorded (handler crash or lost lock)"
                ),
            ),
            Event::Attempt {
                at,
                attempt,
                delivery_count,
                outcome,
                reason,
                latency_ms,
            } => (
                time(at),
                format!(
                    "attempt {attempt} delivery {delivery_count}: {outcome} in {latency_ms:.1} ms{}",
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            ),
            Event::Rescheduled {
                at,
                next_attempt,
                delay_ms,
                scheduled_for,
            } => (
                time(at),
                format!(
                    "rescheduled as attempt {next_attempt} after {delay_ms} ms (for {})",
                    scheduled_for.as_deref().unwrap_or("?")
                ),
            ),
            Event::DeadLettered { at, reason } => (time(at), format!("dead-lettered: {reason}")),
            Event::Completed { at } => (time(at), "completed".into()),
        };
        out.push(format!("  {at:<24}  {what}"));
    }
    out.join("\n")
}

/// Whether `text` is a job id (a UUID, as `IngestJob` answers it).
pub fn valid_job_id(text: &str) -> bool {
    crate::summary::is_guid(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_uuids() {
        assert!(valid_job_id("01936c1e-7b2a-7c3d-9e4f-0123456789ab"));
        for bad in [
            "",
            "01936c1e",
            "01936c1e-7b2a-7c3d-9e4f-0123456789ag",
            "x\" or 1==1",
        ] {
            assert!(!valid_job_id(bad), "{bad}");
        }
    }
}
