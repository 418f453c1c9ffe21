//! End to end through the devhost: the real handler behind the local host stand-in and its durable
//! (fsync'd SQLite) queue, driven at the public `/api/IngestJob` URL like a client would.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde::Deserialize;
use serde_json::json;

use super::Context;
use crate::fixtures::SAMPLE_JOB;
use crate::load::{Load, Outcome};
use crate::process::{self, Memory, Server, free_port};

/// Capacity: as fast as clients can push, then until the queue drains.
#[derive(Debug, Clone)]
pub struct Capacity {
    /// The ingest run.
    pub ingest: Outcome,
    /// Jobs accepted (202).
    pub accepted: u64,
    /// Jobs completed by the end of the ingest run.
    pub completed_during_ingest: u64,
    /// Seconds from the start of ingest until every accepted job completed.
    pub drained_after_s: f64,
    /// Jobs completed in all.
    pub completed: u64,
    /// Dead-lettered (must be 0: chaos is off).
    pub dead_lettered: u64,
    /// Devhost memory after the run.
    pub devhost_memory: Memory,
}

impl Capacity {
    /// Accepted jobs per second during the ingest run.
    pub fn accepted_per_s(&self) -> f64 {
        self.accepted as f64 / self.ingest.seconds.max(f64::EPSILON)
    }

    /// Completed jobs per second from the first request until the queue was empty.
    pub fn completed_per_s(&self) -> f64 {
        self.completed as f64 / self.drained_after_s.max(f64::EPSILON)
    }

    /// Every accepted job completed, none dead-lettered.
    pub fn lossless(&self) -> bool {
        self.completed == self.accepted && self.dead_lettered == 0
    }
}

/// Latency at the fixed offered rate.
#[derive(Debug, Clone)]
pub struct AtRate {
    /// The ingest run.
    pub ingest: Outcome,
    /// Queue-to-completion latency measured by the devhost.
    pub queue: Latency,
    /// Every accepted job completed.
    pub lossless: bool,
}

/// One step of the maximum-rate search.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offered rate, req/s.
    pub rate: u32,
    /// What it measured.
    pub ingest: Outcome,
    /// Whether it held: all 202, achieved ≥ 95% of offered, p99 < 200 ms.
    pub held: bool,
}

/// End-to-end figures.
#[derive(Debug, Clone)]
pub struct EndToEnd {
    /// Capacity.
    pub capacity: Capacity,
    /// Fixed rate.
    pub at_rate: AtRate,
    /// Maximum-rate search, in order.
    pub steps: Vec<Step>,
}

impl EndToEnd {
    /// Highest offered rate that held, if any.
    pub fn max_sustainable(&self) -> Option<u32> {
        self.steps
            .iter()
            .take_while(|s| s.held)
            .map(|s| s.rate)
            .last()
    }
}

/// `completionLatencyMs` from `/admin/queues`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Latency {
    /// Completions measured.
    #[serde(default)]
    pub count: u64,
    /// Median, ms.
    #[serde(default)]
    pub p50: u64,
    /// 99th percentile, ms.
    #[serde(default)]
    pub p99: u64,
}

/// A queue's row of the devhost's `/admin/queues`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueueStats {
    name: String,
    #[serde(default)]
    pub(super) active: u64,
    #[serde(default)]
    scheduled: u64,
    #[serde(default)]
    pub(super) locked: u64,
    #[serde(default)]
    pub(super) dead_lettered: u64,
    #[serde(default)]
    pub(super) completed: u64,
    #[serde(default)]
    enqueued: u64,
    #[serde(default)]
    completion_latency_ms: Option<Latency>,
}

impl QueueStats {
    fn settled(&self) -> bool {
        self.active == 0 && self.scheduled == 0 && self.locked == 0
    }
}

/// The devhost's `/admin/queues` answer.
#[derive(Deserialize)]
pub(super) struct Queues {
    queues: Vec<QueueStats>,
}

impl Queues {
    /// The `jobs` queue's row.
    pub(super) fn jobs(self) -> Result<QueueStats> {
        self.queues
            .into_iter()
            .find(|q| q.name == "jobs")
            .context("the devhost reports no `jobs` queue")
    }
}

/// A devhost serving a staged app with a fresh durable queue.
struct Devhost {
    server: Server,
    client: reqwest::blocking::Client,
    /// Jobs accepted by warm-up requests.
    warmups: u64,
}

/// Run the three end-to-end scenarios, each on a fresh devhost and queue.
pub fn run(cx: &Context) -> Result<EndToEnd> {
    let app = stage_app(cx, "app", &[])?;
    let devhost = Devhost::start(cx, &app, "capacity")?;
    let capacity = capacity(cx, &devhost)?;
    devhost.stop(&app)?;
    let devhost = Devhost::start(cx, &app, "rate")?;
    let at_rate = at_rate(cx, &devhost)?;
    devhost.stop(&app)?;
    let devhost = Devhost::start(cx, &app, "steps")?;
    let steps = max_rate(cx, &devhost)?;
    devhost.stop(&app)?;
    Ok(EndToEnd {
        capacity,
        at_rate,
        steps,
    })
}

fn ingest_load(devhost: &Devhost, cx: &Context) -> Load {
    Load {
        url: devhost.server.url("/api/IngestJob"),
        body: SAMPLE_JOB.to_owned(),
        duration: cx.plan.e2e_duration,
        connections: cx.plan.connections,
        rate: None,
        headers: Vec::new(),
    }
}

fn capacity(cx: &Context, devhost: &Devhost) -> Result<Capacity> {
    let started = Instant::now();
    let ingest = cx.oha.run(&ingest_load(devhost, cx))?;
    let at_end = devhost.jobs()?;
    let accepted = ingest.count(202);
    let drained = devhost.drain(accepted, cx.plan.drain_timeout)?;
    let drained_after_s = started.elapsed().as_secs_f64();
    Ok(Capacity {
        completed_during_ingest: at_end.completed.saturating_sub(devhost.warmups),
        completed: drained.completed.saturating_sub(devhost.warmups),
        dead_lettered: drained.dead_lettered,
        devhost_memory: devhost.server.memory()?,
        ingest,
        accepted,
        drained_after_s,
    })
}

fn at_rate(cx: &Context, devhost: &Devhost) -> Result<AtRate> {
    let ingest = cx.oha.run(&Load {
        duration: cx.plan.rate_duration,
        rate: Some(cx.plan.fixed_rate),
        ..ingest_load(devhost, cx)
    })?;
    let accepted = ingest.count(202);
    let drained = devhost.drain(accepted, cx.plan.drain_timeout)?;
    Ok(AtRate {
        lossless: drained.completed == accepted + devhost.warmups && drained.dead_lettered == 0,
        queue: drained.completion_latency_ms.unwrap_or_default(),
        ingest,
    })
}

fn max_rate(cx: &Context, devhost: &Devhost) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut accepted = 0;
    for &rate in &cx.plan.steps {
        let ingest = cx.oha.run(&Load {
            duration: cx.plan.step_duration,
            rate: Some(rate),
            ..ingest_load(devhost, cx)
        })?;
        accepted += ingest.count(202);
        let held = ingest.count(202) == ingest.answered
            && ingest.error_count() == 0
            && ingest.rps >= 0.95 * f64::from(rate)
            && ingest.p99_ms < 200.0;
        // Each step starts from an empty queue.
        devhost.drain(accepted, cx.plan.drain_timeout)?;
        steps.push(Step { rate, ingest, held });
        if !held {
            break;
        }
    }
    Ok(steps)
}

impl Devhost {
    fn start(cx: &Context, app: &Path, name: &str) -> Result<Self> {
        // The pipeline does not use AMQP; benches may run devhosts side by side.
        let server = start_devhost(cx, app, name, 0)?;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut devhost = Self {
            server,
            client,
            warmups: 0,
        };
        devhost.warm_up()?;
        Ok(devhost)
    }

    /// Stop the devhost (SIGTERM) and check that it stopped its handler workers with it: one
    /// left running would load the machine through the next scenario.
    fn stop(self, app: &Path) -> Result<()> {
        self.server.stop();
        let handler = app.join("handler");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = process::running(&handler);
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the devhost stopped but left handler processes {left:?} running ({})",
                    handler.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One accepted job through the whole pipeline before measuring (the handler is up).
    fn warm_up(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self
                .client
                .post(self.server.url("/api/IngestJob"))
                .header("content-type", "application/json")
                .body(SAMPLE_JOB)
                .send();
            if let Ok(a) = answer
                && a.status().as_u16() == 202
            {
                self.warmups += 1;
                break;
            }
            if Instant::now() > deadline {
                bail!("the devhost did not accept a job within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.drain(0, Duration::from_secs(60))?;
        Ok(())
    }

    fn jobs(&self) -> Result<QueueStats> {
        let url = self.server.url("/admin/queues");
        let queues: Queues = self.client.get(url).send()?.error_for_status()?.json()?;
        queues.jobs()
    }

    /// Wait until the queue is settled and holds at least `accepted` + warm-up completions.
    fn drain(&self, accepted: u64, timeout: Duration) -> Result<QueueStats> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.jobs()?;
            if s.settled() && s.completed + s.dead_lettered >= accepted + self.warmups {
                ensure!(
                    s.enqueued == s.completed + s.dead_lettered,
                    "queue counts do not reconcile: {s:?}"
                );
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("the queue did not drain within {timeout:?}: {s:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Start the release devhost on `app` with a fresh data folder `devhost-<name>` and log
/// `devhost-<name>.log` in the work folder, AMQP on `amqp_port` (0: off), and wait until it answers.
pub(super) fn start_devhost(
    cx: &Context,
    app: &Path,
    name: &str,
    amqp_port: u16,
) -> Result<Server> {
    let data = cx.work.join(format!("devhost-{name}"));
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let port = free_port()?;
    let args: Vec<String> = [
        "start",
        "--script-root",
        &app.display().to_string(),
        "--port",
        &port.to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--amqp-port",
        &amqp_port.to_string(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    Server::start(
        &cx.bins.devhost,
        &args,
        &std::collections::BTreeMap::new(),
        port,
        Some(&cx.work.join(format!("devhost-{name}.log"))),
        Duration::from_secs(90),
    )
}

/// Stage the function app for the devhost in `folder` of the work folder: `host.json`,
/// `functions/`, `job-types/`, the release handler, and a `local.settings.json` with chaos off, no
/// simulated work and the `extra` settings.
pub(super) fn stage_app(cx: &Context, folder: &str, extra: &[(&str, &str)]) -> Result<PathBuf> {
    let app = cx.work.join(folder);
    if app.exists() {
        std::fs::remove_dir_all(&app)?;
    }
    std::fs::create_dir_all(&app)?;
    std::fs::copy(cx.repo.join("host.json"), app.join("host.json"))?;
    // One folder per function at the root, as `cargo xtask stage` lays it out.
    copy_dir(&cx.repo.join("functions"), &app)?;
    copy_dir(&cx.repo.join("job-types"), &app.join("job-types"))?;
    std::fs::copy(&cx.bins.handler, app.join("handler"))?;
    let mut values = serde_json::Map::new();
    for (k, v) in [
        ("FUNCTIONS_WORKER_RUNTIME", "custom"),
        // The bindings' `connection` (the devhost refuses a setting that does not exist).
        (
            "ServiceBusConnection",
            "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=devhost;SharedAccessKey=devhost",
        ),
        ("CHAOS_FAILURE_RATE", "0"),
        ("PROCESSING_DELAY_MS", "0"),
        ("JOB_TYPES_DIR", "job-types"),
        ("LOG_FORMAT", "json"),
    ]
    .into_iter()
    .chain(super::PROTECTION_LIFTED)
    .chain(extra.iter().copied())
    {
        values.insert(k.to_owned(), json!(v));
    }
    let settings = json!({"IsEncrypted": false, "Values": values});
    std::fs::write(
        app.join("local.settings.json"),
        serde_json::to_vec_pretty(&settings)?,
    )?;
    Ok(app)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
