//! A job's *lives*: the first one from ingest, and one more per resubmission from the
//! dead-letter queue. The handler marks the spans of a resubmitted copy (`job.resubmitted`,
//! `job.resubmitted_from_sequence`: crates/handler `resubmission`); the backoff copies of a
//! later attempt carry no mark, so a span belongs to the latest life that started at or before
//! it. A life started when its copy was first seen (a redelivery of the copy is the same life).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::telemetry::rows::Row;

/// Where a job stands, by its latest life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    /// The job's work completed (in its latest life).
    Completed,
    /// Its latest life ended in the dead-letter queue.
    DeadLettered,
    /// Neither yet: a delivery or a backoff copy is pending.
    InFlight,
}

/// The `ProcessJob` spans of one job, with their lives.
#[derive(Debug)]
pub struct Lives<'a> {
    /// When each resubmission was first seen, oldest first.
    pub starts: Vec<(DateTime<Utc>, String)>,
    /// The spans, oldest first.
    pub attempts: Vec<&'a Row>,
}

impl<'a> Lives<'a> {
    /// Read the lives of one job's spans (any order; non-`ProcessJob` rows are skipped).
    pub fn of(rows: impl IntoIterator<Item = &'a Row>) -> Self {
        let mut attempts: Vec<&Row> = rows
            .into_iter()
            .filter(|r| r.name == "ProcessJob")
            .collect();
        attempts.sort_by_key(|r| r.timestamp);
        let mut first_seen: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for r in attempts.iter().filter(|r| resubmitted(r)) {
            let key = r
                .dim("job.resubmitted_from_sequence")
                .or_else(|| r.dim("job.resubmitted_from"))
                .unwrap_or_default();
            first_seen.entry(key).or_insert(r.timestamp);
        }
        let mut starts: Vec<(DateTime<Utc>, String)> =
            first_seen.into_iter().map(|(k, t)| (t, k)).collect();
        starts.sort();
        Self { starts, attempts }
    }

    /// The life (0: the first) a span belongs to.
    pub fn life_of(&self, row: &Row) -> usize {
        self.starts
            .iter()
            .filter(|(t, _)| *t <= row.timestamp)
            .count()
    }

    /// Resubmissions seen.
    pub fn resubmissions(&self) -> usize {
        self.starts.len()
    }

    /// The job's state by its latest life: completed if any attempt of it completed, else
    /// dead-lettered if one was dead-lettered, else in flight.
    pub fn state(&self) -> JobState {
        let latest = self.starts.len();
        let ends: Vec<String> = self
            .attempts
            .iter()
            .filter(|r| self.life_of(r) == latest)
            .filter_map(|r| r.dim("job.end"))
            .collect();
        if ends.iter().any(|e| e == "completed") {
            JobState::Completed
        } else if ends.iter().any(|e| e == "deadLettered") {
            JobState::DeadLettered
        } else {
            JobState::InFlight
        }
    }
}

/// Whether a span is of a resubmitted copy.
pub fn resubmitted(row: &Row) -> bool {
    row.dim("job.resubmitted").as_deref() == Some("true")
}
