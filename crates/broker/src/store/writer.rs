//! The writer thread and its group commit.
//!
//! One thread owns the connection. An operation is a closure sent to it over a channel (the model
//! is tokio-rusqlite's `Connection::call`); the thread drains whatever is pending (up to
//! [`MAX_BATCH`]), runs every closure inside **one transaction**, commits (one fsync for the
//! whole batch) and only then answers each caller. So an operation that returned `Ok` is on
//! disk, and throughput does not pay one fsync per message. If the commit fails, every
//! operation of the batch answers the commit error instead of its own result.

use std::sync::{Arc, mpsc};

use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use super::entities::LiveConfig;
use super::error::StoreError;
use super::model::QueueConfig;
use crate::latency::CompletionLatency;

/// Operations applied in one transaction at most.
const MAX_BATCH: usize = 512;

/// What an operation runs with: the batch's transaction, every queue's options, and the
/// in-memory completion latency.
pub(super) struct Ctx<'a> {
    /// The batch's transaction.
    pub tx: &'a Transaction<'a>,
    /// Every queue's options ([`QueueConfig::of`]).
    pub options: &'a QueueConfig,
    /// Queue-to-completion latency, recorded by completions.
    pub latency: &'a mut CompletionLatency,
}

/// Answers one operation once the batch's commit result is known.
type Finish = Box<dyn FnOnce(&Result<(), Arc<rusqlite::Error>>)>;

/// An operation as the writer receives it: run it in the batch (`Ok`), or tell it the batch
/// could not begin (`Err`).
pub(super) type Job = Box<dyn FnOnce(Result<&mut Ctx<'_>, StoreError>) -> Option<Finish> + Send>;

/// Wrap an operation and the channel its caller waits on into a [`Job`].
pub(super) fn job<T, F>(op: F, reply: oneshot::Sender<Result<T, StoreError>>) -> Job
where
    T: Send + 'static,
    F: FnOnce(&mut Ctx<'_>) -> Result<T, StoreError> + Send + 'static,
{
    Box::new(move |cx| match cx {
        Err(e) => {
            let _ = reply.send(Err(e));
            None
        }
        Ok(cx) => {
            let result = op(cx);
            Some(Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => result,
                    Err(source) => Err(StoreError::Batch {
                        stage: "commit",
                        source: source.clone(),
                    }),
                };
                let _ = reply.send(out);
            }))
        }
    })
}

/// The connection and what operations run with.
pub(super) struct Writer {
    pub conn: Connection,
    pub options: Arc<LiveConfig>,
    pub latency: CompletionLatency,
}

impl Writer {
    /// Serve jobs until every [`super::Store`] handle is dropped.
    pub fn run(mut self, jobs: &mpsc::Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.apply(batch);
        }
    }

    /// Apply a batch in one transaction; answer only after the commit.
    fn apply(&mut self, batch: Vec<Job>) {
        let tx = match self.conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                let source = Arc::new(e);
                for job in batch {
                    job(Err(StoreError::Batch {
                        stage: "begin",
                        source: source.clone(),
                    }));
                }
                return;
            }
        };
        let options = self.options.current();
        let mut cx = Ctx {
            tx: &tx,
            options: &options,
            latency: &mut self.latency,
        };
        let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
        for job in batch {
            finishes.extend(job(Ok(&mut cx)));
        }
        let committed = tx.commit().map_err(Arc::new);
        for finish in finishes {
            finish(&committed);
        }
    }
}
