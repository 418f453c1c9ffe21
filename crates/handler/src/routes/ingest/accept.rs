//! The steps of accepting one job, in the order a rejection is decided: protection, the request
//! itself, the correlation id, the job, backpressure, the envelope.

use chrono::{SecondsFormat, Utc};
use jobs::submission::validate_submission;
use jobs::{JobEnvelope, MAX_MESSAGE_BYTES, SubmissionError, ValidatedJob};
use serde::Serialize;
use uuid::Uuid;
use wire::{HttpRequestData, HttpResponseData};

use super::CORRELATION_HEADER;
use super::rejection::Rejection;
use crate::protect::{ClientKey, Protection};
use crate::state::AppState;
use crate::telemetry::IngestSpan;

/// What the Functions host adds to each output message besides the body, counted against the
/// queue's size limit (which includes headers and properties): `ContentType` `text/plain`, the
/// application property `$AzureWebJobsParentId` (an invocation id) and `Diagnostic-Id` (a W3C
/// traceparent), with their AMQP encoding, rounded up.
pub const HOST_MESSAGE_OVERHEAD: usize = 512;

/// The size of the Service Bus message the host makes of `envelope`: its indented text (what the
/// host sends, `wire::newtonsoft`) plus [`HOST_MESSAGE_OVERHEAD`]. Counted while serialising, so
/// no `Value` tree or text is built for it.
pub fn host_message_bytes(envelope: &JobEnvelope) -> usize {
    wire::newtonsoft::indented_len_of(envelope)
        .map_or(usize::MAX, |n| n.saturating_add(HOST_MESSAGE_OVERHEAD))
}

/// A rejection, with the correlation id once the request got far enough to have one.
#[derive(Debug)]
pub struct Rejected {
    /// Why.
    pub rejection: Rejection,
    /// The request's correlation id, if it was read.
    pub correlation_id: Option<String>,
}

impl From<Rejection> for Rejected {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            correlation_id: None,
        }
    }
}

/// Accept the request: the envelope to enqueue and the `202` for the client.
pub fn accept(
    state: &AppState,
    req: &HttpRequestData,
    client: &ClientKey,
    span: &IngestSpan,
) -> Result<(JobEnvelope, HttpResponseData), Rejected> {
    let suspicion = admit(state.protection(), client)?;
    let body = json_body(req)?;
    let correlation_id = correlation_id(req)?;
    let tag = |rejection| Rejected {
        rejection,
        correlation_id: Some(correlation_id.clone()),
    };
    let job = validate(body, state).map_err(tag)?;
    state
        .protection()
        .backpressure()
        .check(&job.job_type)
        .map_err(|shed| {
            tag(Rejection::Overloaded {
                shed,
                job_type: job.job_type.clone(),
            })
        })?;
    let envelope = envelope(job, correlation_id.clone(), suspicion, span).map_err(tag)?;
    let response = accepted(&envelope).map_err(tag)?;
    Ok((envelope, response))
}

/// Rate limits (a refusal), then velocity (a flag: the reason, if the client is over it).
fn admit(protection: &Protection, client: &ClientKey) -> Result<Option<String>, Rejection> {
    protection
        .limits()
        .check(client)
        .map_err(|limited| Rejection::RateLimited { limited })?;
    Ok(protection.velocity().observe(client))
}

/// The request as a JSON submission: `POST`, a body, a JSON media type in UTF-8, within the size
/// limit, and no bytes the host had to replace.
fn json_body(req: &HttpRequestData) -> Result<&str, Rejection> {
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(Rejection::MethodNotAllowed {
            method: req.method.clone(),
        });
    }
    let Some(body) = req.body.as_deref().filter(|b| !b.is_empty()) else {
        return Err(Rejection::BodyRequired);
    };
    media_type(req.header("content-type"))?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(Rejection::BodyTooLarge { bytes: body.len() });
    }
    // The host reads the body as UTF-8 text and puts U+FFFD where bytes are not UTF-8 (the devhost
    // does the same), so a literal U+FFFD is where the client's bytes were lost. Escaped (`\ufffd`)
    // it is a character like any other.
    if let Some(at) = body.find('\u{FFFD}') {
        let before = &body[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        return Err(Rejection::InvalidUtf8 { line, column });
    }
    Ok(body)
}

/// `application/json` or any `application/*+json`, with no charset or `charset=utf-8`: JSON
/// exchanged between systems must be UTF-8 (RFC 8259 section 8.1).
fn media_type(content_type: Option<&str>) -> Result<(), Rejection> {
    let unsupported = || Rejection::UnsupportedMediaType {
        found: content_type.map(str::to_owned),
    };
    let mut parts = content_type.ok_or_else(unsupported)?.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if !json {
        return Err(unsupported());
    }
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let charset = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !charset.eq_ignore_ascii_case("utf-8") {
            return Err(Rejection::UnsupportedCharset {
                charset: charset.to_owned(),
            });
        }
    }
    Ok(())
}

/// The client's `x-correlation-id` if it is usable (1-128 visible ASCII characters), a new UUID if
/// absent.
fn correlation_id(req: &HttpRequestData) -> Result<String, Rejection> {
    match req.header(CORRELATION_HEADER).map(str::trim) {
        None | Some("") => Ok(Uuid::new_v4().to_string()),
        Some(id) if id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(id.to_owned())
        }
        Some(_) => Err(Rejection::InvalidCorrelationId),
    }
}

/// The submission, parsed strictly and validated against its job type.
fn validate(body: &str, state: &AppState) -> Result<ValidatedJob, Rejection> {
    validate_submission(body.as_bytes(), state.registry()).map_err(|e| match e {
        SubmissionError::MalformedJson { .. } => Rejection::MalformedJson {
            message: e.to_string(),
        },
        SubmissionError::DuplicateMember(at) => Rejection::DuplicateMember(at),
        SubmissionError::Invalid(violations) => Rejection::Invalid { violations },
    })
}

/// The envelope for the queue, flagged when velocity said so, within the message size limit.
fn envelope(
    job: ValidatedJob,
    correlation_id: String,
    suspicion: Option<String>,
    span: &IngestSpan,
) -> Result<JobEnvelope, Rejection> {
    let job_id = Uuid::now_v7();
    let trace = span.publish(&job_id.to_string());
    let mut envelope = JobEnvelope::new(job_id, job, correlation_id, &trace, Utc::now());
    if let Some(reason) = suspicion {
        envelope.flag(reason);
    }
    // The Functions host sends an object output as Newtonsoft's indented text (`JToken.ToString()`,
    // see `wire::newtonsoft`), which can be ten times the compact form for a deeply nested
    // payload: measure that text, plus what the host adds to the message, for every envelope.
    let bytes = host_message_bytes(&envelope);
    if bytes > MAX_MESSAGE_BYTES {
        return Err(Rejection::EnvelopeTooLarge { bytes });
    }
    Ok(envelope)
}

/// The `202 Accepted` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AcceptedBody<'a> {
    job_id: &'a Uuid,
    correlation_id: &'a str,
    status: &'static str,
    job_type: &'a str,
    job_version: u32,
    submitted_at: String,
}

/// `202 Accepted`, naming the job in the body.
///
/// No `Location`: in the asynchronous request-reply pattern (Azure Architecture Center,
/// "Asynchronous Request-Reply pattern"; RFC 9110 section 15.3.3) a 202's `Location` is a status
/// monitor the client polls, and clients do poll it on their own (Logic Apps' HTTP action, the
/// Azure SDKs' long-running-operation pollers). This handler is stateless and keeps no status:
/// a job's fate is in its telemetry (`jobctl job <jobId>`, Application Insights), which a status
/// endpoint could only read minutes late, so it would answer "queued" for jobs long done. A
/// header no client can dereference would be worse than none (README, "The API").
fn accepted(envelope: &JobEnvelope) -> Result<HttpResponseData, Rejection> {
    let body = serde_json::to_string(&AcceptedBody {
        job_id: &envelope.job_id,
        correlation_id: &envelope.correlation_id,
        status: "queued",
        job_type: &envelope.job_type,
        job_version: envelope.job_version,
        submitted_at: envelope
            .submitted_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    })
    .map_err(|e| Rejection::Internal(e.to_string()))?;
    Ok(HttpResponseData::new(202, "application/json", body)
        .with_header(CORRELATION_HEADER, envelope.correlation_id.clone())
        .with_header("traceparent", envelope.traceparent.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_charsets() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/json; charset=\"UTF-8\"",
            "application/vnd.jobs+json",
            "application/json; foo",
        ] {
            assert!(media_type(Some(ok)).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx"] {
            assert!(
                matches!(
                    media_type(Some(bad)),
                    Err(Rejection::UnsupportedMediaType { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            media_type(None),
            Err(Rejection::UnsupportedMediaType { found: None })
        ));
        assert!(matches!(
            media_type(Some("application/json; charset=UTF-16")),
            Err(Rejection::UnsupportedCharset { charset }) if charset == "UTF-16"
        ));
    }

    #[test]
    fn the_host_message_is_measured_as_the_model_measures_it() {
        let job = ValidatedJob {
            tenant_id: "t\u{2028}\"x\"".into(),
            job_type: "report".into(),
            job_version: 2,
            payload: serde_json::json!({"rows": [1, 2.5, -3, 2.0], "n": {"x": {}, "y": []}}),
        };
        let trace = jobs::TraceContext::new_root();
        let mut envelope = JobEnvelope::new(Uuid::now_v7(), job, "c".into(), &trace, Utc::now());
        for flagged in [false, true] {
            if flagged {
                envelope.flag("velocity");
            }
            let model = serde_json::to_value(&envelope).map(|v| wire::newtonsoft::indented_len(&v));
            assert_eq!(
                host_message_bytes(&envelope),
                model.unwrap() + HOST_MESSAGE_OVERHEAD
            );
        }
    }

    #[test]
    fn a_replacement_character_is_located() {
        let mut req = HttpRequestData {
            method: "POST".into(),
            body: Some("{\n  \"tenantId\": \"a\u{FFFD}b\"}".into()),
            ..HttpRequestData::default()
        };
        req.headers
            .insert("Content-Type".into(), vec!["application/json".into()]);
        assert!(matches!(
            json_body(&req),
            Err(Rejection::InvalidUtf8 {
                line: 2,
                column: 17
            })
        ));
        req.body = Some(r#"{"tenantId": "a\ufffdb"}"#.into());
        assert!(json_body(&req).is_ok());
    }
}
