//! `jobctl audit`: the per-job audit, per tenant and job type, from the processing spans: every
//! job counted once, in the state of its latest life, so received = completed + dead-lettered +
//! in flight holds by job, whatever was redelivered, rescheduled, crashed or resubmitted. A span
//! exported twice or an attempt run twice (a crash after the work, before the answer) cannot
//! count a job twice, as a counter would.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::lives::{JobState, Lives};
use crate::output::table;
use crate::telemetry::rows::Row;

/// One tenant and job type.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    /// `job.tenant_id`.
    pub tenant_id: String,
    /// `job.type`.
    pub job_type: String,
    /// Jobs with at least one processing attempt.
    pub received: u64,
    /// Of those, completed (latest life).
    pub completed: u64,
    /// Dead-lettered (latest life).
    pub dead_lettered: u64,
    /// Neither yet.
    pub in_flight: u64,
    /// Resubmissions from the dead-letter queue.
    pub resubmissions: u64,
    /// Failed processing attempts the handler answered.
    pub failed_attempts: u64,
    /// Reschedules with backoff (once per job, life and attempt scheduled).
    pub reschedules: u64,
}

/// The audit.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    /// Per tenant and job type.
    pub rows: Vec<AuditRow>,
    /// Everything.
    pub total: AuditRow,
}

/// Audit the `ProcessJob` spans.
pub fn audit(rows: &[Row]) -> Audit {
    let mut by_job: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.name == "ProcessJob") {
        if let Some(id) = r.job_id() {
            by_job.entry(id).or_default().push(r);
        }
    }
    let mut groups: BTreeMap<(String, String), AuditRow> = BTreeMap::new();
    for job_rows in by_job.values() {
        let lives = Lives::of(job_rows.iter().copied());
        let first = lives.attempts[0];
        let key = (
            first
                .dim("job.tenant_id")
                .unwrap_or_else(|| "unknown".into()),
            first.dim("job.type").unwrap_or_else(|| "unknown".into()),
        );
        let g = groups.entry(key.clone()).or_insert_with(|| AuditRow {
            tenant_id: key.0.clone(),
            job_type: key.1.clone(),
            ..AuditRow::default()
        });
        g.received += 1;
        match lives.state() {
            JobState::Completed => g.completed += 1,
            JobState::DeadLettered => g.dead_lettered += 1,
            JobState::InFlight => g.in_flight += 1,
        }
        g.resubmissions += lives.resubmissions() as u64;
        g.failed_attempts += lives.attempts.iter().filter(|r| !r.success).count() as u64;
        let scheduled: BTreeSet<(usize, i64)> = lives
            .attempts
            .iter()
            .filter_map(|r| Some((lives.life_of(r), r.int("job.retry.attempt")?)))
            .collect();
        g.reschedules += scheduled.len() as u64;
    }
    let rows: Vec<AuditRow> = groups.into_values().collect();
    let mut total = AuditRow {
        tenant_id: "(all)".into(),
        job_type: "(all)".into(),
        ..AuditRow::default()
    };
    for r in &rows {
        total.received += r.received;
        total.completed += r.completed;
        total.dead_lettered += r.dead_lettered;
        total.in_flight += r.in_flight;
        total.resubmissions += r.resubmissions;
        total.failed_attempts += r.failed_attempts;
        total.reschedules += r.reschedules;
    }
    Audit { rows, total }
}

/// The audit as a table.
pub fn render(audit: &Audit, source: &str) -> String {
    let cells = |r: &AuditRow| {
        vec![
            r.tenant_id.clone(),
            r.job_type.clone(),
            r.received.to_string(),
            r.completed.to_string(),
            r.dead_lettered.to_string(),
            r.in_flight.to_string(),
            r.resubmissions.to_string(),
            r.failed_attempts.to_string(),
            r.reschedules.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = audit.rows.iter().map(cells).collect();
    if audit.rows.is_empty() {
        return format!("no processed jobs in {source}");
    }
    rows.push(cells(&audit.total));
    let header = [
        "TENANT",
        "JOB TYPE",
        "RECEIVED",
        "COMPLETED",
        "DEAD-LETTERED",
        "IN FLIGHT",
        "RESUBMISSIONS",
        "FAILED ATTEMPTS",
        "RESCHEDULES",
    ];
    format!(
        "{}\njobs, not messages: received = completed + dead-lettered + in flight ({source})",
        table(&header, &rows)
    )
}
