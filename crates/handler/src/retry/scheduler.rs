//! Sending the rescheduled copy of a job.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use jobs::{Backoff, JobEnvelope};
use rand::RngExt as _;
use servicebus::{OutgoingMessage, ServiceBusClient, ServiceBusError};
use thiserror::Error;

/// Reschedules transiently failed jobs (or, when off, leaves them to the broker).
#[derive(Debug, Clone)]
pub struct RetryScheduler {
    backoff: Backoff,
    mode: Mode,
}

#[derive(Debug, Clone)]
enum Mode {
    Off,
    /// On, but no namespace is configured: failures go to the broker.
    Unavailable,
    On {
        client: ServiceBusClient,
        queue: String,
    },
}

/// A copy sent for a later attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    /// The attempt the copy is.
    pub attempt: u32,
    /// The drawn backoff delay.
    pub delay: Duration,
    /// `ScheduledEnqueueTimeUtc` (the failure time plus the delay, rounded up to a second).
    pub at: DateTime<Utc>,
    /// The copy's `MessageId`.
    pub message_id: String,
}

/// Why a failed job was not rescheduled: the failure goes to the broker instead.
#[derive(Debug, Error)]
pub enum ScheduleError {
    /// Backoff mode is off.
    #[error("backoff mode is off")]
    Off,
    /// Backoff is on but no Service Bus endpoint is configured.
    #[error("no Service Bus endpoint is configured for rescheduling")]
    Unavailable,
    /// The job used its last attempt.
    #[error("attempt {attempt} of {max} failed: no attempts left")]
    Exhausted {
        /// The failed attempt.
        attempt: u32,
        /// `RETRY_MAX_ATTEMPTS`.
        max: u32,
    },
    /// The envelope could not be serialised.
    #[error("cannot serialise the envelope: {0}")]
    Envelope(String),
    /// The send failed.
    #[error("rescheduling send failed: {0}")]
    Send(#[from] ServiceBusError),
}

impl RetryScheduler {
    /// Backoff mode off.
    pub fn off(backoff: Backoff) -> Self {
        Self {
            backoff,
            mode: Mode::Off,
        }
    }

    /// Backoff mode on, without a namespace to send to.
    pub fn unavailable(backoff: Backoff) -> Self {
        Self {
            backoff,
            mode: Mode::Unavailable,
        }
    }

    /// Backoff mode on, sending to `queue` through `client`.
    pub fn on(backoff: Backoff, client: ServiceBusClient, queue: String) -> Self {
        Self {
            backoff,
            mode: Mode::On { client, queue },
        }
    }

    /// Whether backoff mode is on (whether or not a namespace is configured).
    pub fn enabled(&self) -> bool {
        !matches!(self.mode, Mode::Off)
    }

    /// The schedule.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Whether this delivery of this copy should fail fast without work: backoff is on, the copy
    /// is the last attempt, and an earlier delivery of it already failed.
    pub fn fail_fast(&self, envelope: &JobEnvelope, delivery: u32) -> bool {
        self.enabled() && self.backoff.exhausted(envelope.attempt()) && delivery > 1
    }

    /// The copy of `envelope`, delivered with `MessageId` `delivered`, for its next attempt after
    /// a failure at `failed_at`, with a delay drawn by `draw` (uniform in `[0, 1)`).
    pub fn plan(
        &self,
        envelope: &JobEnvelope,
        delivered: Option<&str>,
        failed_at: DateTime<Utc>,
        draw: f64,
    ) -> Result<(Scheduled, OutgoingMessage), ScheduleError> {
        let failed = envelope.attempt();
        if self.backoff.exhausted(failed) {
            return Err(ScheduleError::Exhausted {
                attempt: failed,
                max: self.backoff.max_attempts(),
            });
        }
        let next = envelope.next_attempt();
        let delay = self.backoff.delay(failed, draw);
        let exact = failed_at + chrono::Duration::milliseconds(delay.as_millis() as i64);
        let at = ceil_to_second(exact);
        let message_id = copy_message_id(envelope, delivered, next.attempt());
        let body =
            serde_json::to_string(&next).map_err(|e| ScheduleError::Envelope(e.to_string()))?;
        let mut message = OutgoingMessage::new(body);
        message.message_id = Some(message_id.clone());
        message.correlation_id = Some(envelope.correlation_id.clone());
        message.content_type = Some("application/json".to_owned());
        message.scheduled_enqueue_time = Some(at);
        for (name, value) in [
            ("jobId", envelope.job_id.to_string()),
            ("attempt", next.attempt().to_string()),
            (
                "failedAtUtc",
                failed_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            ),
            ("retryDelayMs", delay.as_millis().to_string()),
        ] {
            message.properties.insert(name.to_owned(), value);
        }
        let scheduled = Scheduled {
            attempt: next.attempt(),
            delay,
            at,
            message_id,
        };
        Ok((scheduled, message))
    }

    /// Reschedule `envelope`, delivered with `MessageId` `delivered`, after a failure at
    /// `failed_at`: plan the copy and send it.
    pub async fn reschedule(
        &self,
        envelope: &JobEnvelope,
        delivered: Option<&str>,
        failed_at: DateTime<Utc>,
    ) -> Result<Scheduled, ScheduleError> {
        let (client, queue) = match &self.mode {
            Mode::Off => return Err(ScheduleError::Off),
            Mode::Unavailable => return Err(ScheduleError::Unavailable),
            Mode::On { client, queue } => (client, queue),
        };
        let draw = rand::rng().random::<f64>();
        let (scheduled, message) = self.plan(envelope, delivered, failed_at, draw)?;
        client.send(queue, &message).await?;
        Ok(scheduled)
    }
}

/// The `MessageId` of the backoff copy for attempt `next` of `envelope`, delivered with
/// `MessageId` `delivered`: `<lineage>:<next>`. Deterministic, so a retried send of the same copy
/// is dropped by the queue's duplicate detection, and distinct for every copy that must live:
///
/// * a job's first run: the lineage is the job id (`<jobId>:2`, `<jobId>:3`);
/// * a copy we sent (`<lineage>:<attempt>`, attempt 2 on): the same lineage;
/// * a job resubmitted from the dead-letter queue by jobctl (`MessageId` `<original>/r<seq>`,
///   its envelope back at attempt 1): the resubmission's id is the lineage
///   (`<original>/r<seq>:2`), so its copies are not taken for the first run's `<jobId>:2` by
///   duplicate detection within the window.
///
/// An id over 128 characters keeps its start and a hash of the lineage
/// ([`servicebus::send::capped_message_id`]).
fn copy_message_id(envelope: &JobEnvelope, delivered: Option<&str>, next: u32) -> String {
    let own = delivered.and_then(|id| {
        let (lineage, attempt) = id.rsplit_once(':')?;
        (envelope.attempt() >= 2 && attempt == envelope.attempt().to_string()).then_some(lineage)
    });
    let lineage = own
        .or(delivered.filter(|id| is_resubmission(id)))
        .map_or_else(|| envelope.job_id.to_string(), str::to_owned);
    servicebus::send::capped_message_id(&lineage, &format!(":{next}"))
}

/// Whether `id` is a resubmitted copy's (`<original>/r<sequence number>`, jobctl's `dlq
/// resubmit`).
fn is_resubmission(id: &str) -> bool {
    id.rsplit_once("/r").is_some_and(|(head, seq)| {
        !head.is_empty() && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The first whole second at or after `t`.
fn ceil_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let ms = t.timestamp_millis();
    let up = ms.div_euclid(1000) * 1000 + if ms.rem_euclid(1000) == 0 { 0 } else { 1000 };
    DateTime::from_timestamp_millis(up).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared sample envelope (test-support), as a producer would have enqueued it.
    fn envelope() -> JobEnvelope {
        let id = uuid::Uuid::now_v7().to_string();
        JobEnvelope::parse(&test_support::sample_envelope(&id, "corr-9").to_string()).unwrap()
    }

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(1000), Duration::from_millis(8000), 3).unwrap()
    }

    #[test]
    fn plans_the_next_attempt_with_lineage_and_a_rounded_up_schedule() {
        let s = RetryScheduler::unavailable(backoff());
        let e = envelope();
        let failed_at = DateTime::parse_from_rfc3339("2026-11-25T10:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        let (plan, message) = s
            .plan(&e, Some("from-the-binding"), failed_at, 0.5)
            .unwrap();
        assert_eq!(plan.attempt, 2);
        assert_eq!(plan.delay, Duration::from_millis(500));
        assert_eq!(plan.at.to_rfc3339(), "2026-11-25T10:00:01+00:00");
        assert_eq!(plan.message_id, format!("{}:2", e.job_id));
        assert_eq!(
            message.message_id.as_deref(),
            Some(plan.message_id.as_str())
        );
        assert_eq!(message.correlation_id.as_deref(), Some("corr-9"));
        assert_eq!(message.scheduled_enqueue_time, Some(plan.at));
        assert_eq!(message.properties["attempt"], "2");
        assert_eq!(
            message.properties["failedAtUtc"],
            "2026-11-25T10:00:00.250Z"
        );
        let copy = JobEnvelope::parse(&message.body).unwrap();
        assert_eq!((copy.attempt(), copy.job_id), (2, e.job_id));

        let (third, _) = s
            .plan(
                &copy,
                Some(message.message_id.as_deref().unwrap()),
                failed_at,
                0.999,
            )
            .unwrap();
        assert_eq!(
            (third.attempt, third.delay),
            (3, Duration::from_millis(1998))
        );
        assert!(matches!(
            s.plan(&copy.next_attempt(), None, failed_at, 0.1),
            Err(ScheduleError::Exhausted { attempt: 3, max: 3 })
        ));
    }

    #[test]
    fn copy_ids_follow_the_lineage_and_a_resubmission_starts_its_own() {
        let s = RetryScheduler::unavailable(backoff());
        let failed_at = Utc::now();
        let e = envelope();
        let id = |e: &JobEnvelope, delivered: Option<&str>| {
            s.plan(e, delivered, failed_at, 0.5).unwrap().0.message_id
        };
        let job = e.job_id.to_string();
        // The first run: whatever id the output binding gave the message.
        assert_eq!(id(&e, Some("3f2a9c")), format!("{job}:2"));
        assert_eq!(id(&e, None), format!("{job}:2"));
        assert_eq!(
            id(&e.next_attempt(), Some(&format!("{job}:2"))),
            format!("{job}:3")
        );
        // Resubmitted by jobctl (its envelope back at attempt 1): a lineage of its own, and its
        // copies keep it.
        let resubmitted = format!("{job}:3/r17");
        assert_eq!(id(&e, Some(&resubmitted)), format!("{resubmitted}:2"));
        assert_eq!(
            id(&e.next_attempt(), Some(&format!("{resubmitted}:2"))),
            format!("{resubmitted}:3")
        );
        assert_ne!(
            id(&e, Some(&format!("{job}:3/r18"))),
            id(&e, Some(&resubmitted))
        );
        // Not a resubmission, not our copy: the job id.
        assert_eq!(id(&e, Some("report/r")), format!("{job}:2"));
        assert_eq!(id(&e.next_attempt(), Some("other:7")), format!("{job}:3"));
        // Long lineages are shortened to 128 characters, deterministically.
        let long = format!("{}/r912", "é".repeat(80));
        let a = id(&e, Some(&long));
        assert!(
            a.len() <= 128 && a.ends_with(":2") && a.contains('~'),
            "{a}"
        );
        assert_eq!(a, id(&e, Some(&long)));
    }

    #[test]
    fn the_last_attempt_fails_fast_after_its_first_delivery() {
        let on = RetryScheduler::unavailable(backoff());
        let last = envelope().next_attempt().next_attempt();
        assert!(!on.fail_fast(&last, 1));
        assert!(on.fail_fast(&last, 2));
        assert!(!on.fail_fast(&envelope(), 5));
        assert!(!RetryScheduler::off(backoff()).fail_fast(&last, 2));
    }

    #[test]
    fn rounds_up_to_whole_seconds() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            ceil_to_second(t("2026-01-01T00:00:00Z")),
            t("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            ceil_to_second(t("2026-01-01T00:00:00.001Z")),
            t("2026-01-01T00:00:01Z")
        );
    }
}
