//! Every way `IngestJob` turns a request down, declared once.
//!
//! A rejection's detail is its `Display` text (next to each variant); [`Rejection::kind`] is the
//! one place that gives each variant its problem type, title, status and headers. A new rejection
//! is a new variant: the compiler then asks for its arm there, and docs/API.md's problem table
//! test (below) for its row.

use axum::http::StatusCode;
use jobs::json::DuplicateMember;
use jobs::{MAX_MESSAGE_BYTES, Violation};
use thiserror::Error;
use wire::HttpResponseData;

use crate::problem::{PROBLEM_JSON, Problem};
use crate::protect::{Limited, Shed};

/// Why a request was rejected. Nothing is enqueued for any of them.
#[derive(Debug, Error)]
pub enum Rejection {
    /// Not `POST`.
    #[error("{method} is not allowed here; POST a job as JSON")]
    MethodNotAllowed {
        /// The method used.
        method: String,
    },
    /// No body, or an empty one.
    #[error("POST a job as a JSON object")]
    BodyRequired,
    /// `Content-Type` is not JSON.
    #[error("Content-Type must be application/json (found {})", found.as_deref().unwrap_or("none"))]
    UnsupportedMediaType {
        /// The `Content-Type` sent, if any.
        found: Option<String>,
    },
    /// JSON in a character set other than UTF-8.
    #[error(
        "charset {charset} is not supported: send the job as UTF-8 (RFC 8259 section 8.1), with charset=utf-8 or no charset"
    )]
    UnsupportedCharset {
        /// The `charset` parameter sent.
        charset: String,
    },
    /// The body is over the queue's message limit.
    #[error("request body is {bytes} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (256 KiB)")]
    BodyTooLarge {
        /// Body size.
        bytes: usize,
    },
    /// The envelope the body makes is over the queue's message limit.
    #[error(
        "the job envelope would be a {bytes}-byte queue message as the Functions host sends it (indented JSON plus its properties); a queue message is limited to {MAX_MESSAGE_BYTES} bytes"
    )]
    EnvelopeTooLarge {
        /// Envelope size.
        bytes: usize,
    },
    /// `x-correlation-id` is unusable.
    #[error("x-correlation-id must be 1-128 visible ASCII characters")]
    InvalidCorrelationId,
    /// The body held bytes that are not UTF-8, which the host replaced with U+FFFD.
    #[error(
        "the body is not valid UTF-8 at line {line}, column {column} (the host replaced those bytes with U+FFFD); send UTF-8, and write a literal U+FFFD as \\ufffd"
    )]
    InvalidUtf8 {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
    },
    /// The body is not JSON.
    #[error("request body is not valid JSON: {message}")]
    MalformedJson {
        /// What the parser said (with line and column).
        message: String,
    },
    /// An object in the body names a member twice.
    #[error(transparent)]
    DuplicateMember(DuplicateMember),
    /// The job breaks the submission or its job type's schema.
    #[error("the job is invalid: {} violation(s)", violations.len())]
    Invalid {
        /// Every violation found.
        violations: Vec<Violation>,
    },
    /// Over a rate limit.
    #[error("{}", rate_limited(limited))]
    RateLimited {
        /// Which limit, and when to retry.
        limited: Limited,
    },
    /// Shed by backpressure.
    #[error(
        "the job queue holds {} active messages, over the {} at which {job_type} jobs ({} priority) are shed; retry after {} s",
        shed.depth, shed.threshold, shed.priority.as_str(), shed.retry_after_secs
    )]
    Overloaded {
        /// The depth, threshold and priority.
        shed: Shed,
        /// The job's type.
        job_type: String,
    },
    /// The handler failed to build its answer.
    #[error("{0}")]
    Internal(String),
}

fn rate_limited(limited: &Limited) -> String {
    let secs = limited.retry_after_secs();
    match limited {
        Limited::Client { .. } => {
            format!("too many requests from this client; retry after {secs} s")
        }
        Limited::Global { .. } => {
            format!("this instance is at its global request limit; retry after {secs} s")
        }
    }
}

/// What kind of problem a rejection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Last segment of the problem type, `urn:resilient-jobs:problem:<slug>`.
    pub slug: &'static str,
    /// The problem title.
    pub title: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
}

const fn kind(slug: &'static str, title: &'static str, status: StatusCode) -> Kind {
    Kind {
        slug,
        title,
        status,
    }
}

impl Rejection {
    /// The problem type, title and status: the one table of them.
    pub fn kind(&self) -> Kind {
        use StatusCode as S;
        match self {
            Self::MethodNotAllowed { .. } => kind(
                "method-not-allowed",
                "Method not allowed",
                S::METHOD_NOT_ALLOWED,
            ),
            Self::BodyRequired => kind("body-required", "Request body required", S::BAD_REQUEST),
            Self::UnsupportedMediaType { .. } => kind(
                "unsupported-media-type",
                "Unsupported media type",
                S::UNSUPPORTED_MEDIA_TYPE,
            ),
            Self::UnsupportedCharset { .. } => kind(
                "unsupported-charset",
                "Unsupported character set",
                S::UNSUPPORTED_MEDIA_TYPE,
            ),
            Self::BodyTooLarge { .. } | Self::EnvelopeTooLarge { .. } => kind(
                "payload-too-large",
                "Payload too large",
                S::PAYLOAD_TOO_LARGE,
            ),
            Self::InvalidCorrelationId => kind(
                "invalid-correlation-id",
                "Invalid correlation id",
                S::BAD_REQUEST,
            ),
            Self::InvalidUtf8 { .. } => kind("invalid-utf8", "Body is not UTF-8", S::BAD_REQUEST),
            Self::MalformedJson { .. } => kind("malformed-json", "Malformed JSON", S::BAD_REQUEST),
            Self::DuplicateMember(_) => {
                kind("duplicate-member", "Duplicate JSON member", S::BAD_REQUEST)
            }
            Self::Invalid { .. } => kind("validation-failed", "The job is invalid", S::BAD_REQUEST),
            Self::RateLimited {
                limited: Limited::Client { .. },
            } => kind("rate-limited", "Too many requests", S::TOO_MANY_REQUESTS),
            Self::RateLimited {
                limited: Limited::Global { .. },
            } => kind(
                "global-rate-limited",
                "Too many requests",
                S::TOO_MANY_REQUESTS,
            ),
            Self::Overloaded { .. } => {
                kind("overloaded", "Service overloaded", S::SERVICE_UNAVAILABLE)
            }
            Self::Internal(_) => kind("internal", "Internal error", S::INTERNAL_SERVER_ERROR),
        }
    }

    /// The headers this rejection adds: `Allow` on 405, `Retry-After` (whole seconds) on 429/503.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::MethodNotAllowed { .. } => vec![("Allow", "POST".to_owned())],
            Self::RateLimited { limited } => {
                vec![("Retry-After", limited.retry_after_secs().to_string())]
            }
            Self::Overloaded { shed, .. } => {
                vec![("Retry-After", shed.retry_after_secs.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The problem details for the client, about `instance` and, once known, `correlation_id`.
    pub fn to_problem(&self, instance: Option<String>, correlation_id: Option<String>) -> Problem {
        let Kind {
            slug,
            title,
            status,
        } = self.kind();
        let mut problem = Problem::new(slug, title, status, self.to_string()).at(instance);
        problem.correlation_id = correlation_id;
        if let Self::Invalid { violations } = self {
            problem = problem.with_errors(violations.clone());
        }
        problem
    }

    /// The HTTP response for the client: the problem as `application/problem+json`, with this
    /// rejection's headers and the correlation id.
    pub fn to_response(&self, problem: &Problem) -> HttpResponseData {
        let mut res =
            HttpResponseData::new(problem.status.as_u16(), PROBLEM_JSON, problem.to_json());
        for (name, value) in self.headers() {
            res = res.with_header(name, value);
        }
        if let Some(id) = &problem.correlation_id {
            res = res.with_header(super::CORRELATION_HEADER, id.clone());
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::Priority;
    use std::time::Duration;

    /// One of every variant. The `match` has no wildcard: a new variant does not compile until it
    /// is added here, and so reaches the docs/API.md check below.
    fn every_variant() -> Vec<Rejection> {
        let all = vec![
            Rejection::MethodNotAllowed {
                method: "GET".into(),
            },
            Rejection::BodyRequired,
            Rejection::UnsupportedMediaType {
                found: Some("text/plain".into()),
            },
            Rejection::UnsupportedCharset {
                charset: "utf-16".into(),
            },
            Rejection::BodyTooLarge { bytes: 300_000 },
            Rejection::EnvelopeTooLarge { bytes: 300_000 },
            Rejection::InvalidCorrelationId,
            Rejection::InvalidUtf8 { line: 1, column: 2 },
            Rejection::MalformedJson {
                message: "EOF while parsing at line 1 column 1".into(),
            },
            Rejection::DuplicateMember(DuplicateMember {
                pointer: "/tenantId".into(),
                line: 1,
                column: 30,
            }),
            Rejection::Invalid {
                violations: vec![Violation::new("/x", "unexpected property \"x\"")],
            },
            Rejection::RateLimited {
                limited: Limited::Client {
                    retry_after: Duration::from_millis(1500),
                },
            },
            Rejection::RateLimited {
                limited: Limited::Global {
                    retry_after: Duration::from_secs(1),
                },
            },
            Rejection::Overloaded {
                shed: Shed {
                    depth: 11,
                    threshold: 10,
                    priority: Priority::Low,
                    retry_after_secs: 7,
                },
                job_type: "thumbnail".into(),
            },
            Rejection::Internal("serialising failed".into()),
        ];
        for r in &all {
            match r {
                Rejection::MethodNotAllowed { .. }
                | Rejection::BodyRequired
                | Rejection::UnsupportedMediaType { .. }
                | Rejection::UnsupportedCharset { .. }
                | Rejection::BodyTooLarge { .. }
                | Rejection::EnvelopeTooLarge { .. }
                | Rejection::InvalidCorrelationId
                | Rejection::InvalidUtf8 { .. }
                | Rejection::MalformedJson { .. }
                | Rejection::DuplicateMember(_)
                | Rejection::Invalid { .. }
                | Rejection::RateLimited { .. }
                | Rejection::Overloaded { .. }
                | Rejection::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_variant_answers_a_complete_problem_with_its_headers() {
        for r in every_variant() {
            let problem = r.to_problem(Some("/api/IngestJob".into()), Some("c-1".into()));
            let res = r.to_response(&problem);
            let kind = r.kind();
            assert_eq!(res.status_code, kind.status.as_u16(), "{r:?}");
            assert_eq!(res.header("Content-Type"), Some(PROBLEM_JSON));
            assert_eq!(res.header("x-correlation-id"), Some("c-1"));
            let body: serde_json::Value =
                serde_json::from_str(res.body.as_deref().unwrap()).unwrap();
            assert_eq!(
                body["type"],
                format!("urn:resilient-jobs:problem:{}", kind.slug)
            );
            assert_eq!(body["title"], kind.title);
            assert_eq!(body["status"], kind.status.as_u16());
            assert!(!body["detail"].as_str().unwrap().is_empty());
            let allow = kind.status == StatusCode::METHOD_NOT_ALLOWED;
            assert_eq!(res.header("Allow").is_some(), allow, "{r:?}");
            let retry = matches!(
                kind.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            assert_eq!(res.header("Retry-After").is_some(), retry, "{r:?}");
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let all = every_variant();
        let after: Vec<_> = all
            .iter()
            .filter_map(|r| r.headers().into_iter().find(|(n, _)| *n == "Retry-After"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(after, ["2", "1", "7"]);
    }

    #[test]
    fn the_errors_list_is_capped_with_a_count() {
        let violations = (0..24_000)
            .map(|i| Violation::new(format!("/m{i}"), "unexpected property"))
            .collect();
        let problem = Rejection::Invalid { violations }.to_problem(None, None);
        let json: serde_json::Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(
            json["errors"].as_array().unwrap().len(),
            crate::problem::MAX_ERRORS
        );
        assert_eq!(json["omittedErrors"], 24_000 - crate::problem::MAX_ERRORS);
        assert!(
            json["detail"]
                .as_str()
                .unwrap()
                .contains("24000 violation(s)")
        );
    }

    /// docs/API.md's problem table: `(status, type)` of each row.
    fn readme_rows() -> std::collections::BTreeSet<(u16, String)> {
        let api = include_str!("../../../../../docs/API.md");
        let rows = test_support::markdown_table(
            api,
            "## `POST /api/IngestJob`",
            "| status | problem `type` |",
        );
        rows.into_iter()
            .map(|cells| {
                let status = cells[0].parse().unwrap();
                let slug = cells[1]
                    .trim_matches('`')
                    .trim_start_matches("urn:resilient-jobs:problem:")
                    .to_owned();
                (status, slug)
            })
            .collect()
    }

    #[test]
    fn the_readme_problem_table_is_the_enum() {
        let from_enum: std::collections::BTreeSet<(u16, String)> = every_variant()
            .iter()
            .map(|r| (r.kind().status.as_u16(), r.kind().slug.to_owned()))
            .collect();
        assert_eq!(readme_rows(), from_enum);
    }
}
