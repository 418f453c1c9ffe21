//! `dlq resubmit`: a redrive of dead letters back onto their queue, modelled on Amazon SQS's
//! dead-letter queue redrive task (rate-limited, resumable, cancellable, with progress).
//!
//! 1. Plan ([`crate::plan`]): read every dead letter, keep the sequence numbers of those
//!    selected and unlock them (the others stay locked). Only these are resubmitted: a copy
//!    that dead-letters again during the run has a new sequence number and waits for the next
//!    run (so `--all` over poison messages ends). The plan goes to the checkpoint
//!    ([`crate::checkpoint`]).
//! 2. Redrive: peek-lock the next dead letter; one of the plan gets its copy sent (at most
//!    `--rate` per second: a token bucket of one), the step written to the checkpoint, then it is
//!    deleted, in that order, so a failure anywhere leaves a dead letter or a duplicate, never a
//!    loss. Any other dead letter stays locked until the end, so the receive moves past it.
//! 3. Ctrl-C / SIGTERM stop after the message in hand; locks are released; the checkpoint stays
//!    and the same command resumes. A completed run removes it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use governor::{Quota, RateLimiter};
use serde::Serialize;
use servicebus::{ReceivedMessage, ServiceBusClient, ServiceBusError, dead_letter_path};
use tokio::task::JoinSet;

use crate::checkpoint::{self, Checkpoint};
use crate::dlq::{self, DeadLetterRow};
use crate::error::CliError;
use crate::plan::{plan, release};
use crate::progress::Progress;
use crate::scan;
use crate::selection::Selection;
use crate::stop::Stop;

/// A lock closer to lapsing than this is not used for a send.
const LOCK_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(3);

/// How a redrive runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Resubmissions per second at most (none: as fast as the namespace allows).
    pub rate: Option<f64>,
    /// Plan and show; change nothing.
    pub dry_run: bool,
    /// The checkpoint file (default: [`checkpoint::default_path`]).
    pub checkpoint: Option<PathBuf>,
    /// Discard an unfinished run's checkpoint and plan anew.
    pub restart: bool,
    /// Draw progress.
    pub progress: bool,
}

/// What `resubmit` did (or, with a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResubmitReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The dead letters resubmitted by this run (with a dry run: those that would be).
    pub selected: Vec<DeadLetterRow>,
    /// Dead letters read when the run was planned but not selected.
    pub skipped: usize,
    /// Dead letters in the plan.
    pub planned: usize,
    /// Resubmitted (copy sent, dead letter deleted) by this run.
    pub resubmitted: usize,
    /// Of those, dead letters whose copy an interrupted run had already sent: deleted only.
    pub completed_without_resend: usize,
    /// Resubmitted by the interrupted run(s) this one resumed.
    pub previously_done: usize,
    /// In the plan but gone when their turn came (deleted or resubmitted by someone else).
    pub missing: usize,
    /// In the plan and not yet resubmitted (the run stopped early).
    pub remaining: usize,
    /// Whether this run continued an interrupted one.
    pub resumed: bool,
    /// The checkpoint file, while the run is unfinished (removed when it completes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// The `--rate`, per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    /// Wall time of this run.
    pub elapsed_seconds: f64,
    /// Of it, the walk that resubmitted (after planning).
    pub redrive_seconds: f64,
}

/// `--rate`: `N/s`, `N/m`, `N/h` or a bare `N` (per second); fractions allowed.
pub fn parse_rate(text: &str) -> Result<f64, CliError> {
    let t = text.trim();
    let (n, per) = match t.split_once('/') {
        Some((n, unit)) => (n, unit.trim()),
        None => (t, "s"),
    };
    let seconds = match per {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3_600.0,
        _ => 0.0,
    };
    match n.trim().parse::<f64>() {
        Ok(n) if seconds > 0.0 && n.is_finite() && n > 0.0 && n / seconds <= 100_000.0 => {
            Ok(n / seconds)
        }
        _ => Err(CliError::Usage(format!(
            "--rate {text:?}: expected a positive rate such as 50/s, 600/m or 2.5 (per second, at most 100000/s)"
        ))),
    }
}

/// Run (or resume) a redrive of the dead letters of `queue` chosen by `selection`.
pub async fn resubmit(
    client: &ServiceBusClient,
    queue: &str,
    selection: &Selection,
    options: &Options,
    stop: &Stop,
) -> Result<(ResubmitReport, Option<CliError>), CliError> {
    let started = Instant::now();
    let canonical = selection.canonical();
    let path = match &options.checkpoint {
        Some(p) => p.clone(),
        None => checkpoint::default_path(client.endpoint(), queue, &canonical)?,
    };
    let mut report = ResubmitReport {
        dry_run: options.dry_run,
        rate_per_second: options.rate,
        ..ResubmitReport::default()
    };
    let resumed = if options.dry_run || options.restart {
        None
    } else {
        Checkpoint::open(&path)?
    };
    let mut partial_plan = false;
    // Unselected dead letters the planning scan still holds, so the walk does not pass them.
    let mut held = BTreeMap::new();
    let mut cp = match resumed {
        Some(cp) => {
            let h = &cp.header;
            if h.endpoint != client.endpoint() || h.queue != queue || h.selection != canonical {
                return Err(CliError::Usage(format!(
                    "checkpoint {} belongs to another run ({} {} [{}]); pass --restart to replace it, or another --checkpoint",
                    path.display(),
                    h.endpoint,
                    h.queue,
                    h.selection
                )));
            }
            report.resumed = true;
            eprintln!(
                "jobctl: resuming the redrive started at {} ({} of {} done; checkpoint {})",
                h.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                cp.done.len(),
                h.plan.len(),
                path.display()
            );
            cp
        }
        None => {
            let planned = plan(client, queue, selection, options, stop).await?;
            partial_plan = planned.lapsed;
            report.skipped = planned.header.not_selected;
            report.planned = planned.header.plan.len();
            let read = report.planned + report.skipped;
            if options.dry_run || planned.header.plan.is_empty() {
                report.selected = planned.rows;
                report.elapsed_seconds = started.elapsed().as_secs_f64();
                let warning = planned
                    .lapsed
                    .then(|| CliError::Incomplete(dlq::lapsed(read)));
                return Ok((report, warning));
            }
            held = planned.unselected;
            match Checkpoint::create(&path, planned.header) {
                Ok(cp) => cp,
                Err(e) => {
                    release(client, held).await;
                    return Err(e);
                }
            }
        }
    };
    report.skipped = cp.header.not_selected;
    report.planned = cp.header.plan.len();
    report.previously_done = cp.done.len();

    let walking = Instant::now();
    let end = redrive(client, queue, &mut cp, options, stop, &mut report, held).await;
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    report.redrive_seconds = walking.elapsed().as_secs_f64();
    let planned: BTreeSet<i64> = cp.header.plan.iter().map(|p| p.seq).collect();
    if !matches!(end, Ok(End::Done | End::Exhausted)) {
        cp.sync()?;
    }
    let end = match end {
        Ok(end) => end,
        Err(e) => {
            eprintln!(
                "jobctl: {} of {} resubmitted before the failure; run the same command again to continue (checkpoint {})",
                cp.done.len(),
                planned.len(),
                cp.path().display()
            );
            return Err(e);
        }
    };
    report.remaining = planned.difference(&cp.done).count();
    if end == End::Exhausted {
        report.missing = report.remaining;
        report.remaining = 0;
    }
    let warning = match end {
        End::Done | End::Exhausted => {
            cp.remove()?;
            let read = report.planned + report.skipped;
            partial_plan.then(|| CliError::Incomplete(dlq::lapsed(read)))
        }
        End::Interrupted => {
            report.checkpoint = Some(cp.path().display().to_string());
            Some(CliError::Interrupted(format!(
                "interrupted with {} of {} resubmitted; every lock was released; run the same command again to continue (checkpoint {})",
                cp.done.len(),
                planned.len(),
                cp.path().display()
            )))
        }
        End::Unreachable => {
            report.checkpoint = Some(cp.path().display().to_string());
            Some(CliError::Incomplete(format!(
                "incomplete: {} planned dead letter(s) lie behind more unselected ones than can be held within the lock duration; run the same command again to continue (checkpoint {})",
                report.remaining,
                cp.path().display()
            )))
        }
    };
    Ok((report, warning))
}

/// Why the redrive loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Every planned dead letter is done.
    Done,
    /// The subqueue has nothing more for us: planned ones not done are gone.
    Exhausted,
    /// Ctrl-C / SIGTERM.
    Interrupted,
    /// Planned ones are out of reach behind lapsing locks of unselected ones.
    Unreachable,
}

async fn redrive(
    client: &ServiceBusClient,
    queue: &str,
    cp: &mut Checkpoint,
    options: &Options,
    stop: &Stop,
    report: &mut ResubmitReport,
    mut held: BTreeMap<i64, ReceivedMessage>,
) -> Result<End, CliError> {
    let dlq = dead_letter_path(queue);
    let progress = Progress::bar(
        options.progress,
        cp.header.plan.len() as u64,
        cp.done.len() as u64,
    );
    // `held`: dead letters not in the plan, locked so the receive moves past them (latest lock
    // per sequence number); also where a message in hand goes when the run stops early.
    // Peek-locks run ahead of the sends (so unselected dead letters are passed quickly), but
    // not far when a slow rate would keep prefetched locks waiting for their turn.
    let depth = if options.rate.is_none_or(|r| r >= 1.0) {
        scan::IN_FLIGHT
    } else {
        1
    };
    let mut inflight = JoinSet::new();
    let ctx = Walk {
        client,
        dlq,
        options,
        stop,
        progress: progress.clone(),
        depth,
    };
    let outcome = walk(&ctx, cp, report, &mut held, &mut inflight).await;
    progress.finish();
    // Locks still arriving from peek-locks in flight are released too.
    while let Some(joined) = inflight.join_next().await {
        if let Ok(Ok(Some(m))) = joined {
            held.insert(m.sequence_number, scan::lock_of(&m));
        }
    }
    release(client, held).await;
    outcome
}

type PeekLocks = JoinSet<Result<Option<ReceivedMessage>, ServiceBusError>>;

/// What the walk over the subqueue works with.
struct Walk<'a> {
    client: &'a ServiceBusClient,
    dlq: String,
    options: &'a Options,
    stop: &'a Stop,
    progress: Progress,
    /// Peek-locks in flight at most.
    depth: usize,
}

/// Peek-lock dead letters until the plan is done: resubmit the planned ones, hold the others.
async fn walk(
    ctx: &Walk<'_>,
    cp: &mut Checkpoint,
    report: &mut ResubmitReport,
    held: &mut BTreeMap<i64, ReceivedMessage>,
    inflight: &mut PeekLocks,
) -> Result<End, CliError> {
    let Walk {
        client,
        options,
        stop,
        progress,
        depth,
        ..
    } = ctx;
    let (client, depth) = (*client, *depth);
    let dlq = ctx.dlq.as_str();
    let queue = cp.header.queue.clone();
    let mut remaining: BTreeSet<i64> = cp
        .header
        .plan
        .iter()
        .map(|p| p.seq)
        .filter(|s| !cp.done.contains(s))
        .collect();
    let limiter = options.rate.and_then(|rate| {
        Quota::with_period(Duration::from_secs_f64(1.0 / rate))
            .map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)))
    });
    // Unselected dead letters seen since the last planned one: seeing one twice means the
    // walk goes round lapsing locks without reaching the rest of the plan.
    let mut passed = HashSet::new();
    let mut exhausted = false;
    loop {
        if remaining.is_empty() {
            return Ok(End::Done);
        }
        if stop.requested() {
            return Ok(End::Interrupted);
        }
        while !exhausted && inflight.len() < depth {
            let (client, dlq) = (client.clone(), dlq.to_owned());
            inflight.spawn(async move { client.peek_lock(&dlq, scan::WAIT_SECS).await });
        }
        let m = match inflight.join_next().await {
            None => return Ok(End::Exhausted),
            Some(Ok(Ok(Some(m)))) => m,
            Some(Ok(Ok(None))) => {
                exhausted = true;
                continue;
            }
            Some(Ok(Err(e))) => return Err(e.into()),
            Some(Err(join)) => {
                return Err(CliError::from(ServiceBusError::Transport(format!(
                    "a peek-lock task failed: {join}"
                ))));
            }
        };
        let seq = m.sequence_number;
        if !remaining.contains(&seq) {
            let again = !passed.insert(seq);
            held.insert(seq, scan::lock_of(&m));
            if again {
                return Ok(End::Unreachable);
            }
            progress.note(format!("{} not selected held", held.len()));
            continue;
        }
        passed.clear();
        let resend = !cp.sent.contains(&seq);
        if resend && let Some(limiter) = &limiter {
            tokio::select! {
                () = limiter.until_ready() => {}
                () = stop.wait() => {
                    held.insert(seq, scan::lock_of(&m));
                    return Ok(End::Interrupted);
                }
            }
        }
        if m.locked_until
            .is_some_and(|until| until - Utc::now() < LOCK_MARGIN)
        {
            // Too close to lapsing for a send: unlock it to come round again with a fresh lock.
            let _ = ctx.client.unlock(&m).await;
            continue;
        }
        if resend {
            if let Err(e) = client.send(&queue, &dlq::resubmission(&m)).await {
                held.insert(seq, scan::lock_of(&m));
                return Err(CliError::from(e));
            }
            cp.sent(seq)?;
        }
        match client.complete(&m).await {
            Ok(()) => {}
            // The lock lapsed after the send: the dead letter comes back and is then deleted
            // without a second send (the checkpoint says its copy is out).
            Err(ServiceBusError::LockLost(_)) => continue,
            Err(e) => return Err(CliError::from(e)),
        }
        cp.done(seq)?;
        remaining.remove(&seq);
        report.resubmitted += 1;
        if !resend {
            report.completed_without_resend += 1;
        }
        report.selected.push(DeadLetterRow::from(&m));
        progress.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50/s").unwrap(), 50.0);
        assert_eq!(parse_rate("600/m").unwrap(), 10.0);
        assert_eq!(parse_rate("2.5").unwrap(), 2.5);
        for bad in ["", "0/s", "-1", "5/w", "fast", "inf", "1000000/s"] {
            assert!(matches!(parse_rate(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
