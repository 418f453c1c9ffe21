//! Runs the custom handler process as the Functions host does (`Azure/azure-functions-host`
//! `src/WebJobs.Script/Workers/Http/HttpWorkerProcess.CreateWorkerProcess`,
//! `HttpWorkerOptionsSetup`, `DefaultHttpWorkerService.IsWorkerReady`,
//! `Workers/ProcessManagement/WorkerProcess.OnProcessExited`,
//! `HttpFunctionInvocationDispatcher.WorkerError`):
//! * environment: every app setting, `FUNCTIONS_CUSTOMHANDLER_PORT` and `FUNCTIONS_HTTPWORKER_PORT`
//!   (one port, chosen once and reused by every restart), `FUNCTIONS_CUSTOMHANDLER_WORKER_ID` and
//!   `FUNCTIONS_HTTPWORKER_ID` (a new GUID per start), `FUNCTIONS_APP_ROOT_PATH`;
//! * readiness: `GET /` every 25 ms, any answer (even 404) means ready, for up to
//!   `customHandler.initializationTimeout` (default 30 s);
//! * exit code 0: not restarted (the host raises no event: the worker stays down and invocations
//!   fail); exit code 200: restarted at once, not counted; any other exit or a start that times
//!   out is an error: restarted at once, and the third error, each within 30 minutes of the
//!   previous one, stops the host ("Exceeded http worker restart retry count. Shutting down
//!   Functions Host"); a function-timeout restart is not counted;
//! * on shutdown the devhost sends SIGTERM and waits up to 10 s before SIGKILL. **The host does
//!   not:** `WorkerProcess.Dispose` kills an HTTP worker outright (SIGKILL), so in Azure a
//!   handler's SIGTERM drain and telemetry flush never run (see docs/PARITY.md).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::config::HandlerProcess;

/// How long the handler has to start answering by default (`HttpWorkerOptions.InitializationTimeout`;
/// `customHandler.initializationTimeout` sets it: [`HandlerProcess::initialization_timeout`]).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// An error more than this after the previous one starts the count again.
const ERROR_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Errors (the last one included) after which the host stops.
const ERRORS_BEFORE_SHUTDOWN: usize = 3;
/// The exit code with which a worker asks to be restarted (`WorkerConstants`, not counted).
const RESTART_EXIT_CODE: i32 = 200;
/// What the host logs when it gives up.
pub const GAVE_UP: &str = "Exceeded http worker restart retry count. Shutting down Functions Host";
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// A running handler process: which start it is (its worker number) and its base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// 1 for the first start, incremented on every restart.
    pub generation: u64,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
}

/// Handle to the running handler: the current worker when ready, and a way to ask for a restart.
#[derive(Debug, Clone)]
pub struct Handler {
    ready: watch::Receiver<Option<Worker>>,
    restart: Arc<Notify>,
    restart_generation: Arc<AtomicU64>,
    restart_wait: Duration,
}

impl Handler {
    /// How long an invocation waits for a restarting handler:
    /// `WorkerFunctionInvoker.DelayUntilFunctionDispatcherInitializedOrShutdown` waits
    /// (errors before shutdown + 1) x the initialization timeout (120 s by default).
    pub fn restart_wait(&self) -> Duration {
        self.restart_wait
    }

    /// The current worker, waiting up to `wait` for one to be (re)started.
    pub async fn worker(&self, wait: Duration) -> Option<Worker> {
        let mut rx = self.ready.clone();
        let result = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match result {
            Ok(Ok(worker)) => worker.clone(),
            _ => None,
        }
    }

    /// Kill and restart worker `generation` (after a function timeout, as the host does). Asking
    /// again for a worker that was already replaced does nothing, so many invocations timing out
    /// together restart the handler once.
    pub fn restart(&self, generation: u64) {
        self.restart_generation.store(generation, Ordering::SeqCst);
        self.restart.notify_one();
    }
}

/// Start supervising. The task ends (killing the handler) with `Ok` when `shutdown` flips to true,
/// or with `Err` naming the last error when the handler failed three times in a row (the host
/// then shuts down).
pub fn spawn(
    process: HandlerProcess,
    env: BTreeMap<String, String>,
    root: std::path::PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> (Handler, tokio::task::JoinHandle<Result<(), String>>) {
    let (ready_tx, ready) = watch::channel(None);
    let restart = Arc::new(Notify::new());
    let restart_generation = Arc::new(AtomicU64::new(0));
    let handler = Handler {
        ready,
        restart: restart.clone(),
        restart_generation: restart_generation.clone(),
        restart_wait: process.initialization_timeout
            * u32::try_from(ERRORS_BEFORE_SHUTDOWN + 1).unwrap_or(4),
    };
    let task = tokio::spawn(async move {
        let port = free_port()?;
        let mut worker = 0u64;
        let mut errors: Vec<Instant> = Vec::new();
        loop {
            worker += 1;
            let started = Instant::now();
            let error = match start(&process, &env, &root, port).await {
                Ok((mut child, url)) => {
                    info!(url = %url, pid = child.id(), "handler ready in {} ms", started.elapsed().as_millis());
                    let _ = ready_tx.send(Some(Worker {
                        generation: worker,
                        url,
                    }));
                    loop {
                        tokio::select! {
                            status = child.wait() => {
                                let code = status.as_ref().ok().and_then(std::process::ExitStatus::code);
                                if code != Some(0) {
                                    let _ = ready_tx.send(None);
                                }
                                match code {
                                    // The host's dispatcher still thinks the worker is up:
                                    // invocations go to the dead port and fail at once.
                                    Some(0) => {
                                        error!("the handler exited with code 0: like the Functions host, the devhost does not restart it, and every invocation fails until the devhost is restarted");
                                        stopped(&mut shutdown).await;
                                        return Ok(());
                                    }
                                    Some(RESTART_EXIT_CODE) => {
                                        warn!("the handler exited with code 200 (restart requested): restarting it");
                                        break None;
                                    }
                                    _ => break Some(format!("{} exited ({})", process.executable.display(), status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
                                }
                            }
                            () = restart.notified() => {
                                if restart_generation.load(Ordering::SeqCst) != worker {
                                    continue; // for a worker already replaced
                                }
                                let _ = ready_tx.send(None);
                                warn!("restarting the handler (function timeout)");
                                let _ = child.kill().await;
                                break None;
                            }
                            () = stopped(&mut shutdown) => {
                                let _ = ready_tx.send(None);
                                stop(&mut child).await;
                                return Ok(());
                            }
                        }
                    }
                }
                Err(e) => Some(format!("the handler failed to start: {e}")),
            };
            let Some(error) = error else { continue };
            let now = Instant::now();
            if errors
                .last()
                .is_some_and(|last| now.duration_since(*last) > ERROR_WINDOW)
            {
                errors.clear();
            }
            errors.push(now);
            if errors.len() >= ERRORS_BEFORE_SHUTDOWN {
                error!("{error}. {GAVE_UP}");
                return Err(format!("{error}. {GAVE_UP}"));
            }
            error!(
                "{error}; restarting it ({} of {ERRORS_BEFORE_SHUTDOWN} errors)",
                errors.len()
            );
            if *shutdown.borrow() {
                return Ok(());
            }
        }
    });
    (handler, task)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

async fn start(
    process: &HandlerProcess,
    env: &BTreeMap<String, String>,
    root: &std::path::Path,
    port: u16,
) -> Result<(Child, String), String> {
    let worker_id = uuid::Uuid::new_v4().to_string();
    let mut cmd = Command::new(&process.executable);
    cmd.args(process.arguments_for(port, &worker_id))
        .current_dir(&process.working_directory)
        .envs(env)
        .env(wire::PORT_ENV, port.to_string())
        .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
        .env("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", &worker_id)
        .env("FUNCTIONS_HTTPWORKER_ID", &worker_id)
        .env("FUNCTIONS_APP_ROOT_PATH", root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", process.executable.display()))?;
    forward(child.stdout.take());
    forward(child.stderr.take());

    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + process.initialization_timeout;
    loop {
        if client.get(&url).send().await.is_ok() {
            return Ok((child, url));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited during start-up ({status})"));
        }
        if Instant::now() > deadline {
            stop(&mut child).await;
            return Err(format!(
                "did not answer GET / on port {port} within {:?} (customHandler.initializationTimeout)",
                process.initialization_timeout
            ));
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Resolves once `shutdown` is true (the guard `wait_for` returns is not `Send`, so drop it here).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// SIGTERM, a grace period, then SIGKILL.
async fn stop(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// Forward the handler's console output line by line (the host logs it without correlation).
fn forward<R: tokio::io::AsyncRead + Unpin + Send + 'static>(stream: Option<R>) {
    let Some(stream) = stream else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // As `func start` does: the handler's own lines, as they are (JSON or text).
            eprintln!("{line}");
        }
    });
}
