//! Rendering: aligned tables for people, JSON for scripts.

use serde::Serialize;
use servicebus::EntityCounts;

use crate::dlq::DeadLetterRow;
use crate::redrive::ResubmitReport;

/// One queue's counts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRow {
    /// Queue name.
    pub queue: String,
    /// Active messages (locked ones included).
    pub active: u64,
    /// Scheduled messages.
    pub scheduled: u64,
    /// Dead letters.
    pub dead_letter: u64,
}

impl QueueRow {
    /// The row of `queue`.
    pub fn new(queue: &str, c: EntityCounts) -> Self {
        Self {
            queue: queue.to_owned(),
            active: c.active,
            scheduled: c.scheduled,
            dead_letter: c.dead_letter,
        }
    }
}

/// Columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// `text` on one line, cut to `max` characters.
pub fn shorten(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The queues table.
pub fn queues(rows: &[QueueRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.queue.clone(),
                r.active.to_string(),
                r.scheduled.to_string(),
                r.dead_letter.to_string(),
            ]
        })
        .collect();
    table(&["QUEUE", "ACTIVE", "SCHEDULED", "DEAD-LETTER"], &cells)
}

/// The dead letters table.
pub fn dead_letters(rows: &[DeadLetterRow]) -> String {
    if rows.is_empty() {
        return "no dead letters".to_owned();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.sequence_number.to_string(),
                shorten(&r.message_id, 48),
                r.reason.clone(),
                r.delivery_count.to_string(),
                r.enqueued_time
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                shorten(&r.description, 40),
                shorten(&r.body, 40),
            ]
        })
        .collect();
    table(
        &[
            "SEQ",
            "MESSAGE-ID",
            "REASON",
            "DELIVERIES",
            "ENQUEUED (UTC)",
            "DESCRIPTION",
            "BODY",
        ],
        &cells,
    )
}

/// Rows of a table shown at most; the rest is counted (all are in `--json`).
const SHOWN: usize = 20;

/// The resubmit summary.
pub fn resubmitted(report: &ResubmitReport) -> String {
    let (verb, count) = if report.dry_run {
        ("would resubmit", report.selected.len())
    } else {
        ("resubmitted", report.resubmitted)
    };
    let mut out = format!(
        "{verb} {count} dead letter(s); {} not selected",
        report.skipped
    );
    if report.resumed {
        out.push_str(&format!(
            "\nresumed an interrupted run: {} of {} were done before",
            report.previously_done, report.planned
        ));
    }
    if report.completed_without_resend > 0 {
        out.push_str(&format!(
            "\n{} whose copy the interrupted run had sent were deleted without sending again",
            report.completed_without_resend
        ));
    }
    if report.missing > 0 {
        out.push_str(&format!(
            "\n{} planned dead letter(s) were gone when their turn came (deleted or resubmitted elsewhere)",
            report.missing
        ));
    }
    if report.remaining > 0 {
        out.push_str(&format!("\n{} still to resubmit", report.remaining));
    }
    if !report.dry_run && report.resubmitted > 0 {
        let rate = report.resubmitted as f64 / report.redrive_seconds.max(0.001);
        out.push_str(&format!(
            "\n{:.1} s in all ({:.1} s reading the dead letters), resubmitting at {rate:.1}/s{}",
            report.elapsed_seconds,
            report.elapsed_seconds - report.redrive_seconds,
            report
                .rate_per_second
                .map(|r| format!(" (--rate {r}/s)"))
                .unwrap_or_default()
        ));
    }
    if !report.selected.is_empty() {
        out.push('\n');
        let shown = &report.selected[..report.selected.len().min(SHOWN)];
        out.push_str(&dead_letters(shown));
        if report.selected.len() > SHOWN {
            out.push_str(&format!(
                "\n... and {} more (--json lists all)",
                report.selected.len() - SHOWN
            ));
        }
    }
    out
}

/// Pretty JSON of anything serialisable.
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["long".into(), "1".into()],
                vec!["x".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A     BB\nlong  1\nx     22");
        assert_eq!(shorten("a\nb", 10), "a b");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
