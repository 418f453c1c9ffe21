use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

use crate::{TraceContext, ValidatedJob};

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// The message `IngestJob` puts on the `jobs` queue and `ProcessJob` reads back.
///
/// Versioned (`envelopeVersion`) and strict: unknown fields, missing fields, a bad `traceparent`
/// or an unknown version make a message unprocessable (a poison message), never a guess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobEnvelope {
    /// Always [`ENVELOPE_VERSION`].
    pub envelope_version: u32,
    /// Job id (UUID v7: time-ordered).
    pub job_id: Uuid,
    /// Correlation id from the client's `x-correlation-id`, or generated.
    pub correlation_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Job type name.
    pub job_type: String,
    /// Job type version the payload was validated against.
    pub job_version: u32,
    /// Job-type-specific payload.
    pub payload: Value,
    /// When `IngestJob` accepted the job (UTC).
    #[serde(with = "rfc3339_millis")]
    pub submitted_at: DateTime<Utc>,
    /// W3C `traceparent` of the ingest span: processing attempts are its children.
    pub traceparent: String,
    /// Set when `IngestJob` flagged the job (velocity); absent, not `false`, otherwise, so an
    /// unflagged envelope is byte-for-byte what earlier builds wrote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspicious: bool,
    /// Why the job was flagged; present only with `suspicious`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspicion_reason: Option<String>,
    /// Which processing attempt this copy of the job is (1-based), set when `ProcessJob`
    /// rescheduled the job after a transient failure; absent on the first attempt, so a fresh
    /// envelope is byte-for-byte what earlier builds wrote (and they read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// Why a message body is not a job envelope this build can process.
#[derive(Debug, Error, PartialEq)]
pub enum EnvelopeError {
    /// The body is not JSON.
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON with an `envelopeVersion` this build does not know.
    #[error("unsupported envelopeVersion {found} (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: Value,
    },
    /// The body is JSON but not a valid envelope.
    #[error("message body is not a job envelope: {0}")]
    NotAnEnvelope(String),
}

impl JobEnvelope {
    /// Wrap a validated job for the queue under `job_id` (use [`Uuid::now_v7`]).
    pub fn new(
        job_id: Uuid,
        job: ValidatedJob,
        correlation_id: String,
        trace: &TraceContext,
        submitted_at: DateTime<Utc>,
    ) -> Self {
        Self {
            envelope_version: ENVELOPE_VERSION,
            job_id,
            correlation_id,
            tenant_id: job.tenant_id,
            job_type: job.job_type,
            job_version: job.job_version,
            payload: job.payload,
            submitted_at,
            traceparent: trace.to_string(),
            suspicious: false,
            suspicion_reason: None,
            attempt: None,
        }
    }

    /// Which processing attempt this copy is (1 when `attempt` is absent).
    pub fn attempt(&self) -> u32 {
        self.attempt.unwrap_or(1).max(1)
    }

    /// The copy of this envelope for the next attempt (`attempt + 1`), otherwise identical.
    pub fn next_attempt(&self) -> Self {
        Self {
            attempt: Some(self.attempt().saturating_add(1)),
            ..self.clone()
        }
    }

    /// Mark the job suspicious, with the reason. It is still processed.
    pub fn flag(&mut self, reason: impl Into<String>) {
        self.suspicious = true;
        self.suspicion_reason = Some(reason.into());
    }

    /// Parse a message body strictly.
    pub fn parse(body: &str) -> Result<Self, EnvelopeError> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        match value.get("envelopeVersion") {
            Some(v) if v.as_u64() == Some(u64::from(ENVELOPE_VERSION)) => {}
            Some(v) => return Err(EnvelopeError::UnsupportedVersion { found: v.clone() }),
            None => {
                return Err(EnvelopeError::NotAnEnvelope(
                    "missing field `envelopeVersion`".into(),
                ));
            }
        }
        let envelope: Self = serde_json::from_value(value)
            .map_err(|e| EnvelopeError::NotAnEnvelope(e.to_string()))?;
        if envelope.trace_context().is_none() {
            return Err(EnvelopeError::NotAnEnvelope(format!(
                "invalid traceparent \"{}\"",
                envelope.traceparent
            )));
        }
        if envelope.attempt == Some(0) {
            return Err(EnvelopeError::NotAnEnvelope(
                "attempt must be at least 1".into(),
            ));
        }
        if !envelope.payload.is_object() {
            return Err(EnvelopeError::NotAnEnvelope(
                "payload must be a JSON object".into(),
            ));
        }
        Ok(envelope)
    }

    /// The envelope's trace context.
    pub fn trace_context(&self) -> Option<TraceContext> {
        TraceContext::parse(&self.traceparent)
    }
}

mod rfc3339_millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope() -> JobEnvelope {
        let job = ValidatedJob {
            tenant_id: "contoso".into(),
            job_type: "report".into(),
            job_version: 1,
            payload: json!({"rows": 1}),
        };
        JobEnvelope::new(
            Uuid::now_v7(),
            job,
            "corr".into(),
            &TraceContext::new_root(),
            Utc::now(),
        )
    }

    #[test]
    fn round_trips_through_json() {
        let e = envelope();
        let text = serde_json::to_string(&e).unwrap();
        let back = JobEnvelope::parse(&text).unwrap();
        assert_eq!(back.job_id, e.job_id);
        assert_eq!(
            back.submitted_at.timestamp_millis(),
            e.submitted_at.timestamp_millis()
        );
        assert_eq!(back.job_id.get_version_num(), 7);
    }

    #[test]
    fn flags_are_optional_and_only_written_when_set() {
        let e = envelope();
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("suspicious") && !text.contains("suspicionReason"));
        let mut flagged = e.clone();
        flagged.flag("velocity");
        let v = serde_json::to_value(&flagged).unwrap();
        assert_eq!(
            (&v["suspicious"], &v["suspicionReason"]),
            (&json!(true), &json!("velocity"))
        );
        let back = JobEnvelope::parse(&v.to_string()).unwrap();
        assert_eq!(
            (back.suspicious, back.suspicion_reason.as_deref()),
            (true, Some("velocity"))
        );
        assert_eq!(back.job_id, flagged.job_id);
        assert!(!JobEnvelope::parse(&text).unwrap().suspicious);
    }

    #[test]
    fn attempt_is_optional_and_counts_from_one() {
        let e = envelope();
        assert_eq!(e.attempt(), 1);
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("attempt"), "absent on the first attempt");
        let second = e.next_attempt();
        assert_eq!((second.attempt(), second.job_id), (2, e.job_id));
        let v = serde_json::to_value(&second).unwrap();
        assert_eq!(v["attempt"], json!(2));
        assert_eq!(JobEnvelope::parse(&v.to_string()).unwrap().attempt(), 2);
        assert_eq!(second.next_attempt().attempt(), 3);
        let mut zero = v.clone();
        zero["attempt"] = json!(0);
        assert!(JobEnvelope::parse(&zero.to_string()).is_err());
        zero["attempt"] = json!("2");
        assert!(JobEnvelope::parse(&zero.to_string()).is_err());
    }

    #[test]
    fn rejects_what_is_not_a_v1_envelope() {
        let mut v = serde_json::to_value(envelope()).unwrap();
        assert!(matches!(
            JobEnvelope::parse("nope"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            JobEnvelope::parse("{}"),
            Err(EnvelopeError::NotAnEnvelope(_))
        ));
        v["envelopeVersion"] = json!(2);
        assert!(matches!(
            JobEnvelope::parse(&v.to_string()),
            Err(EnvelopeError::UnsupportedVersion { .. })
        ));
        v["envelopeVersion"] = json!(1);
        v["surprise"] = json!(true);
        assert!(matches!(
            JobEnvelope::parse(&v.to_string()),
            Err(EnvelopeError::NotAnEnvelope(_))
        ));
        v.as_object_mut().unwrap().remove("surprise");
        v["traceparent"] = json!("garbage");
        assert!(matches!(
            JobEnvelope::parse(&v.to_string()),
            Err(EnvelopeError::NotAnEnvelope(_))
        ));
    }
}
