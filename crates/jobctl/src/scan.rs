//! Reading every dead letter. The Service Bus REST API has no non-destructive peek (browse): it
//! offers peek-lock (`POST {queue}/$DeadLetterQueue/messages/head`), unlock (`PUT` on the message
//! URI) and delete (Microsoft Learn, Service Bus REST reference: "Peek-Lock Message
//! (Non-Destructive Read)", "Unlock Message"). A locked message is skipped by the next peek-lock,
//! so a scan locks dead letters until the subqueue answers `204` and holds every lock to the end;
//! the caller then unlocks them all ([`release`]), on success, error and interruption alike.
//!
//! Several peek-locks are in flight at once. A scan that outlasts the lock duration sees a
//! lapsed message again (same sequence number): from then on it would only re-read what it has,
//! so it stops and says it is incomplete.

use std::collections::HashSet;

use servicebus::{ReceivedMessage, ServiceBusClient, ServiceBusError};
use tokio::task::JoinSet;

use crate::progress::Progress;
use crate::stop::Stop;

/// Seconds a peek-lock waits for a dead letter before the subqueue counts as empty.
pub const WAIT_SECS: u32 = 1;

/// Peek-locks in flight at once.
pub const IN_FLIGHT: usize = 4;

/// Why a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The subqueue had nothing more: every dead letter was read.
    Exhausted,
    /// `limit` were read.
    Limit,
    /// A lock lapsed before the scan ended (the same message came back): the rest was not read.
    Lapsed,
    /// Stopped by Ctrl-C / SIGTERM.
    Interrupted,
}

/// A lock held by a scan, without the message's body: enough to unlock or delete it.
pub fn lock_of(m: &ReceivedMessage) -> ReceivedMessage {
    ReceivedMessage {
        body: String::new(),
        properties: Default::default(),
        ..m.clone()
    }
}

/// Lock dead letters of `entity` (up to `limit`), calling `each` once per distinct message, and
/// push every lock taken onto `held` (also on error). The caller must [`release`] or settle them.
pub async fn lock_all(
    client: &ServiceBusClient,
    entity: &str,
    limit: Option<usize>,
    stop: &Stop,
    progress: &Progress,
    held: &mut Vec<ReceivedMessage>,
    mut each: impl FnMut(&ReceivedMessage),
) -> Result<End, ServiceBusError> {
    let mut seen = HashSet::new();
    let mut tasks = JoinSet::new();
    let mut end = None;
    let mut error = None;
    let mut asked = 0usize;
    loop {
        while end.is_none()
            && error.is_none()
            && tasks.len() < IN_FLIGHT
            && limit.is_none_or(|l| asked < l)
        {
            if stop.requested() {
                end = Some(End::Interrupted);
                break;
            }
            let (client, entity) = (client.clone(), entity.to_owned());
            tasks.spawn(async move { client.peek_lock(&entity, WAIT_SECS).await });
            asked += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(Some(m))) => {
                let repeat = !seen.insert(m.sequence_number);
                held.push(lock_of(&m));
                if repeat {
                    end.get_or_insert(End::Lapsed);
                } else {
                    each(&m);
                    progress.inc();
                    if limit.is_some_and(|l| seen.len() >= l) {
                        end.get_or_insert(End::Limit);
                    }
                }
            }
            Ok(Ok(None)) => {
                end.get_or_insert(End::Exhausted);
            }
            Ok(Err(e)) => {
                error.get_or_insert(e);
            }
            Err(join) => {
                error.get_or_insert(ServiceBusError::Transport(format!(
                    "a peek-lock task failed: {join}"
                )));
            }
        }
        if end.is_none() && limit.is_some_and(|l| asked >= l) && tasks.is_empty() {
            end = Some(End::Limit);
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(end.unwrap_or(End::Exhausted)),
    }
}

/// Unlock every lock in `held`; a lock already gone is fine (it lapsed, or was settled).
pub async fn release(client: &ServiceBusClient, held: &[ReceivedMessage]) {
    let mut tasks = JoinSet::new();
    for chunk in held.chunks(held.len().div_ceil(IN_FLIGHT).max(1)) {
        let (client, chunk) = (client.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for m in &chunk {
                let _ = client.unlock(m).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
