//! Rendering: aligned tables for people, JSON for scripts.

use serde::Serialize;
use servicebus::EntityCounts;

use crate::dlq::{DeadLetterRow, ResubmitReport};

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

fn shorten(text: &str, max: usize) -> String {
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

/// The resubmit summary.
pub fn resubmitted(report: &ResubmitReport) -> String {
    let verb = if report.dry_run {
        "would resubmit"
    } else {
        "resubmitted"
    };
    let mut out = format!(
        "{verb} {} dead letter(s); {} not selected",
        report.selected.len(),
        report.skipped
    );
    if !report.selected.is_empty() {
        out.push('\n');
        out.push_str(&dead_letters(&report.selected));
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
