//! Handler hot path: the handler and the axum baseline, each alone on the machine, driven over
//! loopback with the exact invocation bodies the host sends.

use std::time::Duration;

use anyhow::{Result, ensure};

use super::Context;
use crate::fixtures::{SAMPLE_JOB, ingest_invocation, process_invocation, sample_envelope};
use crate::load::{Load, Outcome};
use crate::process::{Memory, Server, free_port};

/// One scenario measured on both servers.
#[derive(Debug, Clone)]
pub struct Pair {
    /// What was driven.
    pub scenario: String,
    /// The real handler.
    pub handler: Outcome,
    /// The baseline.
    pub baseline: Outcome,
}

impl Pair {
    /// Handler throughput as a fraction of the baseline's.
    pub fn ratio(&self) -> f64 {
        if self.baseline.rps > 0.0 {
            self.handler.rps / self.baseline.rps
        } else {
            0.0
        }
    }
}

/// Hot-path figures.
#[derive(Debug, Clone)]
pub struct HotPath {
    /// Closed-loop `IngestJob`.
    pub ingest: Pair,
    /// Closed-loop `ProcessJob`.
    pub process: Pair,
    /// `IngestJob` at the fixed offered rate.
    pub ingest_fixed: Pair,
    /// Handler memory right after the runs.
    pub handler_memory: Memory,
    /// Baseline memory right after the runs.
    pub baseline_memory: Memory,
    /// Interleaved rounds measured; each figure is the median round.
    pub rounds: usize,
}

struct Runs {
    ingest: Outcome,
    process: Outcome,
    ingest_fixed: Outcome,
    memory: Memory,
}

/// Measure both servers in interleaved rounds (baseline, handler, baseline, ...) and keep, per
/// scenario and server, the median round: one noisy round on a shared machine moves nothing.
pub fn run(cx: &Context) -> Result<HotPath> {
    let mut baseline = Vec::new();
    let mut handler = Vec::new();
    for _ in 0..cx.plan.hot_rounds.max(1) {
        baseline.push(measure(cx, "baseline")?);
        handler.push(measure(cx, "handler")?);
    }
    let pair = |scenario: String, pick: fn(&Runs) -> &Outcome, by_latency: bool| Pair {
        scenario,
        handler: median(&handler, pick, by_latency),
        baseline: median(&baseline, pick, by_latency),
    };
    let c = cx.plan.connections;
    let peak = |runs: &[Runs]| {
        runs.iter()
            .map(|r| r.memory)
            .max_by_key(|m| m.peak_kib)
            .unwrap_or_default()
    };
    Ok(HotPath {
        ingest: pair(
            format!("IngestJob, closed loop, {c} connections"),
            |r| &r.ingest,
            false,
        ),
        process: pair(
            format!("ProcessJob, closed loop, {c} connections"),
            |r| &r.process,
            false,
        ),
        ingest_fixed: pair(
            format!("IngestJob at {} req/s", cx.plan.fixed_rate),
            |r| &r.ingest_fixed,
            true,
        ),
        handler_memory: peak(&handler),
        baseline_memory: peak(&baseline),
        rounds: handler.len(),
    })
}

/// The median round of one scenario: by throughput for closed-loop runs, by p99 for fixed-rate
/// runs (their throughput is the offered rate).
fn median(runs: &[Runs], pick: fn(&Runs) -> &Outcome, by_latency: bool) -> Outcome {
    let mut outcomes: Vec<&Outcome> = runs.iter().map(pick).collect();
    if by_latency {
        outcomes.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    } else {
        outcomes.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    }
    outcomes
        .get(outcomes.len() / 2)
        .map(|o| (*o).clone())
        .unwrap_or_default()
}

fn measure(cx: &Context, which: &str) -> Result<Runs> {
    let port = free_port()?;
    let exe = if which == "handler" {
        &cx.bins.handler
    } else {
        &cx.bins.baseline
    };
    let server = Server::start(
        exe,
        &[],
        &cx.handler_env(port),
        port,
        Some(&cx.work.join(format!("{which}.log"))),
        Duration::from_secs(30),
    )?;
    let ingest_body = ingest_invocation(SAMPLE_JOB).to_string();
    let envelope = serde_json::to_string(&sample_envelope())?;
    let process_body = process_invocation(&envelope, 1).to_string();
    let closed = |path: &str, body: &str| Load {
        url: server.url(path),
        body: body.to_owned(),
        duration: cx.plan.hot_duration,
        connections: cx.plan.connections,
        rate: None,
        headers: Vec::new(),
    };
    // Warm up connections, allocator and caches.
    cx.oha.run(&Load {
        duration: Duration::from_millis(500),
        ..closed("/IngestJob", &ingest_body)
    })?;
    let ingest = checked(which, cx.oha.run(&closed("/IngestJob", &ingest_body))?)?;
    let process = checked(which, cx.oha.run(&closed("/ProcessJob", &process_body))?)?;
    let ingest_fixed = checked(
        which,
        cx.oha.run(&Load {
            duration: cx.plan.rate_duration,
            connections: cx.plan.connections,
            rate: Some(cx.plan.fixed_rate),
            ..closed("/IngestJob", &ingest_body)
        })?,
    )?;
    let memory = server.memory()?;
    server.stop();
    Ok(Runs {
        ingest,
        process,
        ingest_fixed,
        memory,
    })
}

/// Every invocation must have succeeded (HTTP 200 to the host) for the figure to count.
fn checked(which: &str, outcome: Outcome) -> Result<Outcome> {
    ensure!(
        outcome.answered > 0
            && outcome.count(200) == outcome.answered
            && outcome.error_count() == 0,
        "{which}: not every invocation succeeded: statuses {:?}, errors {:?}",
        outcome.statuses,
        outcome.errors
    );
    Ok(outcome)
}
