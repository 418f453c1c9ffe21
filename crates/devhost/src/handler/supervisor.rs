//! Runs the custom handler process as the Functions host does: starts it with
//! `FUNCTIONS_CUSTOMHANDLER_PORT` (plus `FUNCTIONS_CUSTOMHANDLER_WORKER_ID`,
//! `FUNCTIONS_APP_ROOT_PATH` and every app setting) in its working directory, polls `GET /` every
//! 25 ms until it answers (anything, even 404, means ready) for up to 60 s, restarts it with
//! backoff when it dies or an invocation times out, and stops it on shutdown.

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

/// How long the handler has to start answering.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
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
}

impl Handler {
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

/// Start supervising; the task ends (killing the handler) when `shutdown` flips to true.
pub fn spawn(
    process: HandlerProcess,
    env: BTreeMap<String, String>,
    root: std::path::PathBuf,
    mut shutdown: watch::Receiver<bool>,
) -> (Handler, tokio::task::JoinHandle<()>) {
    let (ready_tx, ready) = watch::channel(None);
    let restart = Arc::new(Notify::new());
    let restart_generation = Arc::new(AtomicU64::new(0));
    let handler = Handler {
        ready,
        restart: restart.clone(),
        restart_generation: restart_generation.clone(),
    };
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        let mut worker = 0u64;
        loop {
            worker += 1;
            let started = Instant::now();
            match start(&process, &env, &root, worker).await {
                Ok((mut child, url)) => {
                    info!(url = %url, pid = child.id(), "handler ready in {} ms", started.elapsed().as_millis());
                    let _ = ready_tx.send(Some(Worker {
                        generation: worker,
                        url,
                    }));
                    let restart_now = loop {
                        tokio::select! {
                            status = child.wait() => {
                                let _ = ready_tx.send(None);
                                error!(?status, "handler exited; restarting in {} ms", backoff.as_millis());
                                break false;
                            }
                            () = restart.notified() => {
                                if restart_generation.load(Ordering::SeqCst) != worker {
                                    continue; // for a worker already replaced
                                }
                                let _ = ready_tx.send(None);
                                warn!("restarting the handler (function timeout)");
                                let _ = child.kill().await;
                                break true;
                            }
                            () = stopped(&mut shutdown) => {
                                let _ = ready_tx.send(None);
                                stop(&mut child).await;
                                return;
                            }
                        }
                    };
                    if restart_now {
                        backoff = Duration::from_millis(500);
                        continue;
                    }
                }
                Err(e) => error!(
                    "handler failed to start: {e}; retrying in {} ms",
                    backoff.as_millis()
                ),
            }
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_millis(500);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stopped(&mut shutdown) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    });
    (handler, task)
}

async fn start(
    process: &HandlerProcess,
    env: &BTreeMap<String, String>,
    root: &std::path::Path,
    worker: u64,
) -> Result<(Child, String), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let mut cmd = Command::new(&process.executable);
    cmd.args(&process.arguments)
        .current_dir(&process.working_directory)
        .envs(env)
        .env(wire::PORT_ENV, port.to_string())
        .env(
            "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
            format!("devhost-worker-{worker}"),
        )
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
    let deadline = Instant::now() + STARTUP_TIMEOUT;
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
                "did not answer GET / on port {port} within {} s",
                STARTUP_TIMEOUT.as_secs()
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
