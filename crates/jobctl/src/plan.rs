//! The first step of a redrive: read every dead letter ([`crate::scan`]) and plan the run, the
//! sequence numbers of those selected. Only these are resubmitted (so a copy that dead-letters
//! again during the run waits for the next one); `--id`s that match nothing end it here.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;
use servicebus::{ReceivedMessage, ServiceBusClient, dead_letter_path};

use crate::checkpoint::{self, Header, Planned};
use crate::dlq::DeadLetterRow;
use crate::error::CliError;
use crate::progress::Progress;
use crate::redrive::Options;
use crate::scan;
use crate::selection::{JobFacts, Selection};
use crate::stop::Stop;

/// A planned run.
pub struct Planning {
    pub header: Header,
    /// The selected dead letters as rows (dry run only).
    pub rows: Vec<DeadLetterRow>,
    /// Whether the scan stopped at a lapsed lock (the plan is partial).
    pub lapsed: bool,
    /// Locks still held on the dead letters not selected (none for a dry run or an empty plan).
    pub unselected: BTreeMap<i64, ReceivedMessage>,
}

/// Unlock `held`.
pub async fn release(client: &ServiceBusClient, held: BTreeMap<i64, ReceivedMessage>) {
    let held: Vec<ReceivedMessage> = held.into_values().collect();
    scan::release(client, &held).await;
}

/// Read every dead letter and plan the run. The planned ones are unlocked again; the others
/// stay locked for the walk (unless there is nothing to walk).
pub async fn plan(
    client: &ServiceBusClient,
    queue: &str,
    selection: &Selection,
    options: &Options,
    stop: &Stop,
) -> Result<Planning, CliError> {
    let progress = Progress::spinner(options.progress, "reading dead letters");
    let mut held = Vec::new();
    let (mut plan, mut rows, mut not_selected) = (Vec::new(), Vec::new(), 0);
    let mut found_ids: HashSet<String> = HashSet::new();
    let outcome = scan::lock_all(
        client,
        &dead_letter_path(queue),
        None,
        stop,
        &progress,
        &mut held,
        |m| {
            let facts = JobFacts::of(m);
            if !selection.matches(m, &facts) {
                not_selected += 1;
                return;
            }
            for id in &selection.ids {
                if selection.id_matches(id, m) {
                    found_ids.insert(id.clone());
                }
            }
            plan.push(Planned {
                seq: m.sequence_number,
                message_id: m.message_id.clone(),
            });
            if options.dry_run {
                rows.push(DeadLetterRow::from(m));
            }
        },
    )
    .await;
    progress.finish();
    let planned: HashSet<i64> = plan.iter().map(|p| p.seq).collect();
    let keep = matches!(outcome, Ok(scan::End::Exhausted | scan::End::Lapsed))
        && !options.dry_run
        && !planned.is_empty()
        && found_ids.len() == selection.ids.iter().collect::<HashSet<_>>().len();
    let (unselected, free): (Vec<_>, Vec<_>) = held
        .into_iter()
        .partition(|m| keep && !planned.contains(&m.sequence_number));
    scan::release(client, &free).await;
    let unselected: BTreeMap<i64, ReceivedMessage> = unselected
        .into_iter()
        .map(|m| (m.sequence_number, m))
        .collect();
    let end = outcome?;
    if end == scan::End::Interrupted {
        return Err(CliError::Interrupted(
            "interrupted while reading the dead letters; nothing was resubmitted and every lock was released".into(),
        ));
    }
    let lapsed = end == scan::End::Lapsed;
    let missing: Vec<&str> = selection
        .ids
        .iter()
        .filter(|id| !found_ids.contains(*id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() && !lapsed {
        let filtered = if selection.narrows() && selection.ids.len() < 2 {
            ""
        } else {
            " (or it does not pass the other filters)"
        };
        return Err(CliError::NoMatch(format!(
            "no dead letter of {queue} has the id {}{filtered}: an --id is a SequenceNumber or a MessageId (see `jobctl dlq peek`); nothing was resubmitted",
            missing.join(", ")
        )));
    }
    let header = Header {
        version: checkpoint::VERSION,
        endpoint: client.endpoint().to_owned(),
        queue: queue.to_owned(),
        selection: selection.canonical(),
        started_at: Utc::now(),
        not_selected,
        plan,
    };
    Ok(Planning {
        header,
        rows,
        lapsed,
        unselected,
    })
}
