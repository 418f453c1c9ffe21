//! The local Service Bus's two front ends side by side (issue #15): the REST subset and AMQP 1.0,
//! both served by one release devhost over one durable store (SQLite WAL, fsync'd before every
//! acknowledgement), measured in the same run with the same clients count and message.
//!
//! ProcessJob is disabled (`AzureWebJobs.ProcessJob.Disabled`), so the `jobs` queue (declared by
//! IngestJob's output binding) has no other consumer. Each front end gets a send phase (closed
//! loop, every send waits for the broker's accept) and then a receive phase (peek-lock, complete)
//! that lasts until the broker reports every message of the phase completed. Microsoft's Python
//! SDK is measured last, through `scripts/python_sdk_throughput.py`, when it is installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::link::receiver::CreditMode;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::definitions::ReceiverSettleMode;
use fe2o3_amqp::types::messaging::{Body, Message, Properties};
use fe2o3_amqp::types::primitives::{Binary, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use serde::Deserialize;

use super::Context;
use super::e2e::{QueueStats, Queues, stage_app, start_devhost};
use crate::fixtures::SAMPLE_JOB;
use crate::process::{Server, free_port};

/// The SAS key `devhost start` uses by default (the emulator's documented `SAS_KEY_VALUE`).
const KEY_NAME: &str = "RootManageSharedAccessKey";
const KEY: &str = "SAS_KEY_VALUE";
const QUEUE: &str = "jobs";

/// One front end's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    /// Messages sent (each acknowledged by the broker).
    pub sent: u64,
    /// Seconds the send phase ran.
    pub send_seconds: f64,
    /// Messages received and completed.
    pub completed: u64,
    /// Seconds from the first receive until the broker counted the last completion.
    pub receive_seconds: f64,
}

impl Rates {
    /// Sends per second.
    pub fn send_per_s(&self) -> f64 {
        self.sent as f64 / self.send_seconds.max(f64::EPSILON)
    }

    /// Receive + complete per second.
    pub fn receive_per_s(&self) -> f64 {
        self.completed as f64 / self.receive_seconds.max(f64::EPSILON)
    }
}

/// The Python SDK's own figures (from its script's JSON line).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PythonSdk {
    /// Messages per phase.
    pub count: u64,
    /// One `send_messages` call per message.
    pub send_per_s: f64,
    /// `create_message_batch` batches.
    pub batch_send_per_s: f64,
    /// `receive_messages` + `complete_message`.
    pub receive_complete_per_s: f64,
}

/// The messaging figures.
#[derive(Debug, Clone)]
pub struct Messaging {
    /// Concurrent clients per phase.
    pub clients: u32,
    /// Message body size, bytes.
    pub body_bytes: usize,
    /// The REST subset (`/servicebus/jobs/messages`).
    pub rest: Rates,
    /// AMQP 1.0 from a Rust client (fe2o3-amqp), one message in flight per client.
    pub amqp: Rates,
    /// The same with [`WINDOW`] messages in flight per client: AMQP lets a link keep many
    /// transfers unsettled (an SDK sender or receiver used concurrently), HTTP/1.1 one request
    /// per connection at a time.
    pub amqp_pipelined: Rates,
    /// Microsoft's Python SDK, or why it was not measured.
    pub python: std::result::Result<PythonSdk, String>,
}

/// Messages in flight per AMQP client in the pipelined phase.
pub const WINDOW: usize = 32;

impl Messaging {
    /// Pipelined AMQP sends per second over REST sends per second (same connections).
    pub fn send_ratio(&self) -> f64 {
        self.amqp_pipelined.send_per_s() / self.rest.send_per_s().max(f64::EPSILON)
    }

    /// Pipelined AMQP receive+complete per second over REST's.
    pub fn receive_ratio(&self) -> f64 {
        self.amqp_pipelined.receive_per_s() / self.rest.receive_per_s().max(f64::EPSILON)
    }
}

/// Run the messaging scenarios on one fresh devhost.
pub fn run(cx: &Context) -> Result<Messaging> {
    let app = stage_app(
        cx,
        "app-messaging",
        &[("AzureWebJobs.ProcessJob.Disabled", "true")],
    )?;
    let host = Devhost::start(cx, &app)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let clients = cx.plan.connections;
    let duration = cx.plan.hot_duration;
    let rest = runtime.block_on(rest_rates(&host, clients, duration))?;
    let amqp = runtime.block_on(amqp_rates(&host, clients, duration, 1))?;
    let amqp_pipelined = runtime.block_on(amqp_rates(&host, clients, duration, WINDOW))?;
    let python = python_sdk(cx, &host);
    let figures = Messaging {
        clients,
        body_bytes: SAMPLE_JOB.len(),
        rest,
        amqp,
        amqp_pipelined,
        python,
    };
    host.server.stop();
    Ok(figures)
}

/// The devhost, its AMQP port and its queue counters.
struct Devhost {
    server: Server,
    amqp_port: u16,
    http: reqwest::Client,
}

impl Devhost {
    fn start(cx: &Context, app: &Path) -> Result<Self> {
        let amqp_port = free_port()?;
        let server = start_devhost(cx, app, "messaging", amqp_port)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", amqp_port)).is_err() {
            ensure!(
                Instant::now() < deadline,
                "the devhost's AMQP port {amqp_port} did not open"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            server,
            amqp_port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(256)
                .build()?,
        })
    }

    async fn counts(&self) -> Result<QueueStats> {
        let url = self.server.url("/admin/queues");
        let answer = self.http.get(url).send().await?.error_for_status()?;
        answer.json::<Queues>().await?.jobs()
    }

    /// Wait until the broker has completed `total` messages in all and holds none, and return
    /// when that was first seen.
    async fn completed(&self, total: u64) -> Result<Instant> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let c = self.counts().await?;
            ensure!(c.dead_lettered == 0, "messages were dead-lettered: {c:?}");
            if c.completed >= total && c.active == 0 && c.locked == 0 {
                ensure!(c.completed == total, "more completions than sends: {c:?}");
                return Ok(Instant::now());
            }
            ensure!(
                Instant::now() < deadline,
                "the queue did not drain: {c:?}, expected {total} completed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn connection_string(&self) -> String {
        format!(
            "Endpoint=sb://127.0.0.1:{};SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY};UseDevelopmentEmulator=true",
            self.amqp_port
        )
    }
}

/// `clients` tasks, each running `step` until `deadline`; the total of what they returned.
async fn closed_loop<F, Fut>(clients: u32, step: F) -> Result<u64>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = Result<u64>> + Send + 'static,
{
    total((0..clients).map(|i| tokio::spawn(step(i))).collect()).await
}

/// The sum of what the tasks counted.
async fn total(tasks: Vec<tokio::task::JoinHandle<Result<u64>>>) -> Result<u64> {
    let mut sum = 0;
    for t in tasks {
        sum += t.await??;
    }
    Ok(sum)
}

async fn rest_rates(host: &Devhost, clients: u32, duration: Duration) -> Result<Rates> {
    let base = host.counts().await?.completed;
    let url = host.server.url(&format!("/servicebus/{QUEUE}/messages"));
    let started = Instant::now();
    let deadline = started + duration;
    let sent = closed_loop(clients, |_| {
        let (http, url) = (host.http.clone(), url.clone());
        async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let answer = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(SAMPLE_JOB)
                    .send()
                    .await?;
                ensure!(
                    answer.status() == 201,
                    "REST send answered {}",
                    answer.status()
                );
                n += 1;
            }
            Ok(n)
        }
    })
    .await?;
    let send_seconds = started.elapsed().as_secs_f64();

    let head = host
        .server
        .url(&format!("/servicebus/{QUEUE}/messages/head?timeout=1"));
    let left = Arc::new(AtomicU64::new(sent));
    let started = Instant::now();
    let completed = closed_loop(clients, |_| {
        let (http, head, left) = (host.http.clone(), head.clone(), left.clone());
        async move {
            let mut n = 0;
            while left.load(Ordering::Relaxed) > 0 {
                let locked = http.post(&head).send().await?;
                if locked.status() == 204 {
                    continue;
                }
                ensure!(
                    locked.status() == 201,
                    "REST peek-lock answered {}",
                    locked.status()
                );
                let location = locked
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .context("a locked message without Location")?
                    .to_owned();
                let done = http.delete(&location).send().await?;
                ensure!(
                    done.status() == 200,
                    "REST complete answered {}",
                    done.status()
                );
                left.fetch_sub(1, Ordering::Relaxed);
                n += 1;
            }
            Ok(n)
        }
    })
    .await?;
    let finished = host.completed(base + sent).await?;
    ensure!(completed == sent, "REST completed {completed} of {sent}");
    Ok(Rates {
        sent,
        send_seconds,
        completed,
        receive_seconds: finished.duration_since(started).as_secs_f64(),
    })
}

async fn open(url: &str, name: String) -> Result<(ConnectionHandle<()>, SessionHandle<()>)> {
    let mut connection = Connection::builder()
        .container_id(name)
        .sasl_profile(SaslProfile::Plain {
            username: KEY_NAME.into(),
            password: KEY.into(),
        })
        .open(url)
        .await
        .context("AMQP connection refused")?;
    let session = Session::begin(&mut connection).await?;
    Ok((connection, session))
}

/// AMQP send, then receive+complete, with `window` messages in flight per client.
async fn amqp_rates(
    host: &Devhost,
    clients: u32,
    duration: Duration,
    window: usize,
) -> Result<Rates> {
    let base = host.counts().await?.completed;
    let url = format!("amqp://127.0.0.1:{}", host.amqp_port);
    // Every client attaches first, so the phase measures transfers, not connection set-up.
    let mut senders = Vec::new();
    for i in 0..clients {
        let (connection, mut session) = open(&url, format!("bench-sender-{i}")).await?;
        let sender = Sender::attach(&mut session, format!("sender-{i}"), QUEUE).await?;
        senders.push((connection, session, sender));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(connection, session, mut sender)| {
            tokio::spawn(async move {
                let mut n: u64 = 0;
                let mut in_flight = std::collections::VecDeque::with_capacity(window);
                while Instant::now() < deadline {
                    if in_flight.len() >= window
                        && let Some(outcome) = in_flight.pop_front()
                    {
                        accepted(outcome).await?;
                        n += 1;
                    }
                    // No MessageId, as the SDKs send by default and as the REST sends go.
                    let message = Message::builder()
                        .properties(
                            Properties::builder()
                                .content_type("application/json")
                                .build(),
                        )
                        .data(Binary::from(SAMPLE_JOB.as_bytes().to_vec()))
                        .build();
                    in_flight.push_back(sender.send_batchable(message).await?);
                }
                for outcome in in_flight {
                    accepted(outcome).await?;
                    n += 1;
                }
                sender.close().await?;
                drop((session, connection));
                anyhow::Ok(n)
            })
        })
        .collect();
    let sent = total(tasks).await?;
    let send_seconds = started.elapsed().as_secs_f64();

    let mut receivers = Vec::new();
    for i in 0..clients {
        let (connection, mut session) = open(&url, format!("bench-receiver-{i}")).await?;
        // Peek-lock as the SDKs attach it: the broker settles after the client's disposition.
        let receiver = Receiver::builder()
            .name(format!("receiver-{i}"))
            .source(QUEUE)
            .receiver_settle_mode(ReceiverSettleMode::Second)
            .credit_mode(CreditMode::Auto(50.max(2 * window as u32)))
            .attach(&mut session)
            .await?;
        receivers.push((connection, session, receiver));
    }
    let left = Arc::new(AtomicU64::new(sent));
    let started = Instant::now();
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|(connection, session, mut receiver)| {
            let left = left.clone();
            tokio::spawn(async move {
                let mut n: u64 = 0;
                while left.load(Ordering::Relaxed) > 0 {
                    let Ok(delivery) = tokio::time::timeout(
                        Duration::from_millis(200),
                        receiver.recv::<Body<Value>>(),
                    )
                    .await
                    else {
                        continue;
                    };
                    // With the first, whatever else has arrived, up to the window, settled at
                    // once (one disposition range, answered when the store holds them).
                    let mut batch = vec![delivery?];
                    while batch.len() < window {
                        match tokio::time::timeout(Duration::ZERO, receiver.recv::<Body<Value>>())
                            .await
                        {
                            Ok(next) => batch.push(next?),
                            Err(_) => break,
                        }
                    }
                    let taken = batch.len() as u64;
                    receiver.accept_all(batch).await?;
                    left.fetch_sub(taken, Ordering::Relaxed);
                    n += taken;
                }
                // Every message is counted, so nothing is left on this link's credit.
                receiver.close().await?;
                drop((session, connection));
                anyhow::Ok(n)
            })
        })
        .collect();
    let completed = total(tasks).await?;
    let finished = host.completed(base + sent).await?;
    if completed != sent {
        bail!("AMQP completed {completed} of {sent}");
    }
    Ok(Rates {
        sent,
        send_seconds,
        completed,
        receive_seconds: finished.duration_since(started).as_secs_f64(),
    })
}

/// Wait for a pipelined send's outcome: it must be `accepted`.
async fn accepted(
    outcome: fe2o3_amqp::link::delivery::DeliveryFut<
        std::result::Result<fe2o3_amqp::types::messaging::Outcome, fe2o3_amqp::link::SendError>,
    >,
) -> Result<()> {
    outcome
        .await?
        .accepted_or_else(|o| anyhow::anyhow!("AMQP send not accepted: {o:?}"))?;
    Ok(())
}

/// The Python SDK's figures, or why there are none (`SB_PYTHON`, else the venv `.ci/run` makes).
fn python_sdk(cx: &Context, host: &Devhost) -> std::result::Result<PythonSdk, String> {
    let python = std::env::var_os("SB_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/resilient-jobs/venv-sdk/bin/python"))
        })
        .filter(|p| p.exists())
        .ok_or("not measured: no SB_PYTHON and no ~/.cache/resilient-jobs/venv-sdk")?;
    let script = cx
        .repo
        .join("crates/bench/scripts/python_sdk_throughput.py");
    let count = if cx.plan.hot_rounds == 1 { 100 } else { 2_000 };
    let out = std::process::Command::new(&python)
        .arg(&script)
        .env("SB_CONNECTION_STRING", host.connection_string())
        .env("SB_QUEUE", QUEUE)
        .env("COUNT", count.to_string())
        .env("BODY", SAMPLE_JOB)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the SDK script failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable SDK figures: {e}"))
}
