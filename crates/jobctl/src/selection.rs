//! Which dead letters a command takes: all, some ids, and filters by reason, description, job
//! type, tenant and enqueued-time window (all given filters must hold).

use chrono::{DateTime, NaiveDate, Utc};
use servicebus::ReceivedMessage;

use crate::error::CliError;

/// What a dead letter says about the job it carries: the job envelope's `jobType` and
/// `tenantId`, else application properties of those names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFacts {
    /// `jobType`, when known.
    pub job_type: Option<String>,
    /// `tenantId`, when known.
    pub tenant: Option<String>,
    /// Whether the body is a JSON object at all.
    pub json_object: bool,
}

impl JobFacts {
    /// Read them from `m`.
    pub fn of(m: &ReceivedMessage) -> Self {
        let body = serde_json::from_str::<serde_json::Value>(&m.body).ok();
        let field = |name: &str| {
            body.as_ref()
                .and_then(|b| b.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .or_else(|| m.property(name).map(str::to_owned))
        };
        Self {
            job_type: field("jobType"),
            tenant: field("tenantId"),
            json_object: body.as_ref().is_some_and(serde_json::Value::is_object),
        }
    }

    /// The job type as shown: the type, or what the body is instead.
    pub fn job_type_label(&self) -> String {
        match (&self.job_type, self.json_object) {
            (Some(t), _) => t.clone(),
            (None, true) => "(no jobType)".to_owned(),
            (None, false) => "(not JSON)".to_owned(),
        }
    }
}

/// A selection of dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Every dead letter (no criterion needed).
    pub all: bool,
    /// By `MessageId` or sequence number.
    pub ids: Vec<String>,
    /// `DeadLetterReason` equal to this (case-insensitive).
    pub reason: Option<String>,
    /// `DeadLetterErrorDescription` containing this (case-insensitive).
    pub description: Option<String>,
    /// The job's `jobType` (exact).
    pub job_type: Option<String>,
    /// The job's `tenantId` (exact).
    pub tenant: Option<String>,
    /// Enqueued at or after, as given and as resolved.
    pub since: Option<(String, DateTime<Utc>)>,
    /// Enqueued before, as given and as resolved.
    pub until: Option<(String, DateTime<Utc>)>,
}

impl Selection {
    /// Apply `--filter key=value` (`reason=...` or `description=...`).
    pub fn with_filter(mut self, text: &str) -> Result<Self, CliError> {
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
            "reason" => self.reason = Some(value.to_owned()),
            "description" => self.description = Some(value.to_owned()),
            other => {
                return Err(CliError::Usage(format!(
                    "--filter key {other:?} is unknown: use reason=... or description=..."
                )));
            }
        }
        Ok(self)
    }

    /// Whether any criterion narrows the selection.
    pub fn narrows(&self) -> bool {
        !self.ids.is_empty()
            || self.reason.is_some()
            || self.description.is_some()
            || self.job_type.is_some()
            || self.tenant.is_some()
            || self.since.is_some()
            || self.until.is_some()
    }

    /// Whether `m` passes every filter (ids aside).
    pub fn filters_match(&self, m: &ReceivedMessage, facts: &JobFacts) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        self.reason.as_deref().is_none_or(|r| {
            m.dead_letter_reason()
                .is_some_and(|have| have.eq_ignore_ascii_case(r))
        }) && self.description.as_deref().is_none_or(|part| {
            m.dead_letter_description()
                .is_some_and(|d| d.to_lowercase().contains(&part.to_lowercase()))
        }) && eq(&self.job_type, facts.job_type.as_deref())
            && eq(&self.tenant, facts.tenant.as_deref())
            && self
                .since
                .as_ref()
                .is_none_or(|(_, t)| m.enqueued_time.is_some_and(|e| e >= *t))
            && self
                .until
                .as_ref()
                .is_none_or(|(_, t)| m.enqueued_time.is_some_and(|e| e < *t))
    }

    /// The ids (if any) that `m` answers to.
    pub fn id_matches(&self, id: &str, m: &ReceivedMessage) -> bool {
        id == m.message_id || id.parse::<i64>().ok() == Some(m.sequence_number)
    }

    /// Whether `m` is selected.
    pub fn matches(&self, m: &ReceivedMessage, facts: &JobFacts) -> bool {
        (self.ids.is_empty() || self.ids.iter().any(|id| self.id_matches(id, m)))
            && self.filters_match(m, facts)
    }

    /// A stable text of the criteria as given (relative times as written), for keys.
    pub fn canonical(&self) -> String {
        let mut ids = self.ids.clone();
        ids.sort();
        ids.dedup();
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let time = |t: &Option<(String, DateTime<Utc>)>| {
            t.as_ref().map(|(s, _)| s.clone()).unwrap_or_default()
        };
        format!(
            "all={}|ids={}|reason={}|description={}|jobType={}|tenant={}|since={}|until={}",
            self.all,
            ids.join(","),
            opt(&self.reason).to_lowercase(),
            opt(&self.description).to_lowercase(),
            opt(&self.job_type),
            opt(&self.tenant),
            time(&self.since),
            time(&self.until)
        )
    }
}

/// `--since` / `--until`: an RFC 3339 time (`2026-12-01T10:00:00Z`), a date (`2026-12-01`,
/// midnight UTC), or an age (`90s`, `30m`, `2h`, `7d`: that long before `now`).
pub fn parse_time(flag: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, CliError> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(midnight) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    let unit = t.chars().last().unwrap_or(' ');
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => 0,
    };
    if let Some(n) = t[..t.len().saturating_sub(1)]
        .parse::<i64>()
        .ok()
        .filter(|_| seconds > 0)
        && n >= 0
        && let Some(age) = n
            .checked_mul(seconds)
            .and_then(chrono::Duration::try_seconds)
    {
        return Ok(now - age);
    }
    Err(CliError::Usage(format!(
        "{flag} {text:?}: expected an RFC 3339 time (2026-12-01T10:00:00Z), a date (2026-12-01) or an age (30m, 2h, 7d)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn dead(body: &str, reason: &str) -> ReceivedMessage {
        let mut properties = BTreeMap::new();
        properties.insert("deadletterreason".into(), reason.into());
        properties.insert(
            "deadlettererrordescription".into(),
            "Message could not be consumed after 2 delivery attempts.".into(),
        );
        ReceivedMessage {
            entity: "jobs/$DeadLetterQueue".into(),
            body: body.into(),
            message_id: "m-1".into(),
            correlation_id: None,
            content_type: None,
            sequence_number: 7,
            delivery_count: 2,
            lock_token: "t".into(),
            enqueued_time: Some(parse_time("", "2026-12-01T10:30:00Z", Utc::now()).unwrap()),
            locked_until: None,
            properties,
            location: None,
        }
    }

    #[test]
    fn parses_filters() {
        let s = Selection::default()
            .with_filter("reason=MaxDeliveryCountExceeded")
            .unwrap();
        assert_eq!(s.reason.as_deref(), Some("MaxDeliveryCountExceeded"));
        let s = Selection::default()
            .with_filter("Description = after 5")
            .unwrap();
        assert_eq!(s.description.as_deref(), Some("after 5"));
        for bad in ["reason", "reason=", "colour=red"] {
            assert!(
                matches!(
                    Selection::default().with_filter(bad),
                    Err(CliError::Usage(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_filter_must_hold() {
        let now = Utc::now();
        let m = dead(
            r#"{"jobType":"report","tenantId":"t0"}"#,
            "MaxDeliveryCountExceeded",
        );
        let facts = JobFacts::of(&m);
        assert_eq!(facts.job_type_label(), "report");
        let mut s = Selection {
            job_type: Some("report".into()),
            tenant: Some("t0".into()),
            reason: Some("maxdeliverycountexceeded".into()),
            since: Some(("x".into(), parse_time("", "2026-12-01", now).unwrap())),
            until: Some((
                "y".into(),
                parse_time("", "2026-12-01T11:00:00Z", now).unwrap(),
            )),
            ..Selection::default()
        };
        assert!(s.matches(&m, &facts));
        s.ids = vec!["8".into(), "m-1".into()];
        assert!(s.matches(&m, &facts));
        s.ids = vec!["8".into()];
        assert!(!s.matches(&m, &facts));
        s.ids.clear();
        s.tenant = Some("t1".into());
        assert!(!s.matches(&m, &facts));
        s.tenant = None;
        s.until = Some((
            "z".into(),
            parse_time("", "2026-12-01T10:30:00Z", now).unwrap(),
        ));
        assert!(!s.matches(&m, &facts), "until is exclusive");
        assert_eq!(
            JobFacts::of(&dead("nope", "x")).job_type_label(),
            "(not JSON)"
        );
    }

    #[test]
    fn times_are_absolute_dates_or_ages() {
        let now = parse_time("", "2026-12-01T12:00:00Z", Utc::now()).unwrap();
        assert_eq!(
            parse_time("--since", "2h", now).unwrap().to_rfc3339(),
            "2026-12-01T10:00:00+00:00"
        );
        assert_eq!(
            parse_time("--since", "2026-11-30", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        for bad in ["", "yesterday", "-2h", "2w", "h"] {
            assert!(parse_time("--since", bad, now).is_err(), "{bad}");
        }
    }
}
