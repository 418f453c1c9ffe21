//! The project's app staged in a fresh temporary folder and served by the real devhost: the
//! set-up every whole-pipeline test starts from.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::{Devhost, free_port, script_root};

/// A staged app: its temporary folder (removed on drop), script root, devhost store and port,
/// kept together so that a test can stop the devhost and start it again on the same store.
pub struct App {
    /// The temporary folder holding everything below.
    pub dir: TempDir,
    /// The script root, `dir/app` (see [`script_root`]).
    pub root: PathBuf,
    /// The devhost's store, `dir/data`.
    pub data: PathBuf,
    /// The devhost's HTTP port, the same on every start.
    pub port: u16,
    /// The `jobs` queue's `MaxDeliveryCount`.
    pub max_delivery_count: u32,
}

impl App {
    /// Stage the app with `settings` for a `jobs` queue of `max_delivery_count` deliveries. The
    /// handler is told the same count (`SERVICEBUS_MAX_DELIVERY_COUNT`), as Terraform sets it
    /// from the queue's; a setting in `settings` wins.
    pub fn stage(max_delivery_count: u32, settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let count = max_delivery_count.to_string();
        let mut all = vec![("SERVICEBUS_MAX_DELIVERY_COUNT", count.as_str())];
        all.extend_from_slice(settings);
        let root = script_root(dir.path(), &all);
        let data = dir.path().join("data");
        Self {
            dir,
            root,
            data,
            port: free_port(),
            max_delivery_count,
        }
    }

    /// Start a devhost on the app (ready when this returns).
    pub async fn devhost(&self) -> Devhost {
        self.devhost_with(&[]).await
    }

    /// Start a devhost on the app with these further `devhost start` flags.
    pub async fn devhost_with(&self, flags: &[&str]) -> Devhost {
        let count = self.max_delivery_count.to_string();
        let mut all = vec!["--max-delivery-count", &count];
        all.extend_from_slice(flags);
        Devhost::start_with(&self.root, &self.data, self.port, &all).await
    }
}

/// [`App::stage`], then [`App::devhost`]: the app (keep it alive) and its running devhost.
pub async fn start_app(max_delivery_count: u32, settings: &[(&str, &str)]) -> (App, Devhost) {
    let app = App::stage(max_delivery_count, settings);
    let devhost = app.devhost().await;
    (app, devhost)
}

/// Submit `job` `n` times from `concurrency` clients at once; how many were answered 202.
pub async fn submit_many(devhost: &Arc<Devhost>, job: &str, n: u64, concurrency: usize) -> u64 {
    let (accepted, next) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (d, accepted, next) = (devhost.clone(), accepted.clone(), next.clone());
        let job = job.to_owned();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < n {
                if let Ok((202, _)) = d.submit(&job).await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    accepted.load(Ordering::SeqCst)
}

/// What a [`load_run`] leaves: the app (keep it alive), its devhost, the queue's final counts and
/// of those `[enqueued, completed, deadLettered, abandoned]`.
pub struct LoadRun {
    /// The staged app.
    pub app: App,
    /// Its devhost.
    pub devhost: Arc<Devhost>,
    /// The `/admin/queues` row of `jobs` once every job settled.
    pub queue: Value,
    /// Its enqueued, completed, dead-lettered and abandoned counts.
    pub counts: [u64; 4],
}

/// Stage and start the app with `settings` ([`start_app`]), submit `n` sample jobs from
/// `concurrency` clients ([`submit_many`]), every one of which must be accepted, and wait (at
/// most `within`) for the queue to settle them all.
pub async fn load_run(
    max_delivery_count: u32,
    settings: &[(&str, &str)],
    n: u64,
    concurrency: usize,
    within: Duration,
) -> LoadRun {
    let (app, devhost) = start_app(max_delivery_count, settings).await;
    let devhost = Arc::new(devhost);
    let accepted = submit_many(&devhost, crate::SAMPLE_JOB, n, concurrency).await;
    assert_eq!(accepted, n, "every valid job is accepted");
    let queue = devhost.drained(n, within).await;
    let counts = crate::counts(
        &queue,
        ["enqueued", "completed", "deadLettered", "abandoned"],
    );
    LoadRun {
        app,
        devhost,
        queue,
        counts,
    }
}
