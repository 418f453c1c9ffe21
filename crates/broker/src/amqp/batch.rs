//! Taking work off a queue in batches, so one store call (one group commit) serves it all.

use tokio::sync::mpsc;

/// Wait for the next item, then take whatever else is already queued, up to `max` in all;
/// `None` once the channel is closed and empty.
pub(crate) async fn next_batch<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    max: usize,
) -> Option<Vec<T>> {
    let mut batch = vec![rx.recv().await?];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}
