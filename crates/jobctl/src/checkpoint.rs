//! The redrive checkpoint: an append-only JSON-lines file, so an interrupted `dlq resubmit`
//! continues where it stopped without resubmitting anything twice.
//!
//! Line 1 is the run: endpoint, queue, selection, start time and the plan (the sequence numbers
//! of the dead letters selected when the run started). Then one line per step, written as it
//! happens (synced to disk at least once a second and when the run stops): `{"sent":N}` once the copy of dead letter N is on the queue,
//! `{"done":N}` once N is deleted. A resumed run takes the plan from line 1, skips what is done,
//! and deletes a dead letter marked sent without sending it again. A torn last line (a crash
//! mid-write) is ignored. The file is removed when the run completes.
//!
//! Where: `--checkpoint FILE`, else `$JOBCTL_STATE_DIR`, else `$XDG_STATE_HOME/jobctl`, else
//! `~/.local/state/jobctl`, as `redrive-<queue>-<key>.jsonl`, keyed by a hash of the endpoint,
//! the queue and the selection as typed (so the same command finds its own checkpoint).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The format version of line 1.
pub const VERSION: u32 = 1;

/// One planned dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    /// `SequenceNumber`.
    pub seq: i64,
    /// `MessageId`.
    pub message_id: String,
}

/// Line 1: the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// [`VERSION`].
    pub version: u32,
    /// The namespace endpoint.
    pub endpoint: String,
    /// The queue.
    pub queue: String,
    /// The selection as typed ([`crate::selection::Selection::canonical`]).
    pub selection: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Dead letters read but not selected when the run started.
    pub not_selected: usize,
    /// The dead letters to resubmit, in the order they were found.
    pub plan: Vec<Planned>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Step {
    Sent(i64),
    Done(i64),
}

/// An open checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    file: File,
    /// The run.
    pub header: Header,
    /// Copies on the queue.
    pub sent: BTreeSet<i64>,
    /// Dead letters deleted after their copy was sent.
    pub done: BTreeSet<i64>,
    synced: Instant,
}

/// How often appended steps are synced to disk at most.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// FNV-1a, 64 bits: a stable hash for file names and ids (std's hasher may change between
/// releases).
pub fn fnv64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The default checkpoint file of a run of `selection` on `queue` at `endpoint`.
pub fn default_path(endpoint: &str, queue: &str, selection: &str) -> Result<PathBuf, CliError> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = env("JOBCTL_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("jobctl")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/jobctl")))
        .ok_or_else(|| {
            CliError::Usage(
                "no place for the redrive checkpoint: set JOBCTL_STATE_DIR or pass --checkpoint FILE"
                    .into(),
            )
        })?;
    let key = fnv64(&format!("{endpoint}\n{queue}\n{selection}"));
    let safe: String = queue
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Ok(dir.join(format!("redrive-{safe}-{key:016x}.jsonl")))
}

fn failed(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::Checkpoint {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

impl Checkpoint {
    /// Start a new run at `path` (replacing any file there).
    pub fn create(path: &Path, header: Header) -> Result<Self, CliError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(path, e))?;
        }
        let mut file = File::create(path).map_err(|e| failed(path, e))?;
        let line = serde_json::to_string(&header).map_err(|e| failed(path, e))?;
        writeln!(file, "{line}").map_err(|e| failed(path, e))?;
        file.sync_data().map_err(|e| failed(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
            header,
            sent: BTreeSet::new(),
            done: BTreeSet::new(),
            synced: Instant::now(),
        })
    }

    /// Open the run at `path`, if there is one.
    pub fn open(path: &Path) -> Result<Option<Self>, CliError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(path, e)),
        };
        let mut lines = BufReader::new(file).lines();
        let first = lines
            .next()
            .transpose()
            .map_err(|e| failed(path, e))?
            .ok_or_else(|| failed(path, "empty file"))?;
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| failed(path, format!("line 1 is not a redrive run: {e}")))?;
        if header.version != VERSION {
            return Err(failed(
                path,
                format!("version {} (this jobctl writes {VERSION})", header.version),
            ));
        }
        let (mut sent, mut done) = (BTreeSet::new(), BTreeSet::new());
        for line in lines {
            // A line that does not parse was torn by a crash mid-write: its step is not
            // recorded, which is safe (a copy not marked sent is sent again under the same
            // MessageId; a dead letter not marked done is deleted again).
            match serde_json::from_str::<Step>(&line.map_err(|e| failed(path, e))?) {
                Ok(Step::Sent(n)) => {
                    sent.insert(n);
                }
                Ok(Step::Done(n)) => {
                    sent.insert(n);
                    done.insert(n);
                }
                Err(_) => {}
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| failed(path, e))?;
        Ok(Some(Self {
            path: path.to_owned(),
            file,
            header,
            sent,
            done,
            synced: Instant::now(),
        }))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, step: &Step) -> Result<(), CliError> {
        let line = serde_json::to_string(step).map_err(|e| failed(&self.path, e))?;
        // Start on a fresh line even after a torn one. The write reaches the kernel before the
        // next step (it survives the process being killed); the disk is synced at most once a
        // second, since a sync per step halved the redrive's throughput.
        writeln!(self.file, "\n{line}").map_err(|e| failed(&self.path, e))?;
        if self.synced.elapsed() >= SYNC_EVERY {
            self.file.sync_data().map_err(|e| failed(&self.path, e))?;
            self.synced = Instant::now();
        }
        Ok(())
    }

    /// The copy of `seq` is on the queue.
    pub fn sent(&mut self, seq: i64) -> Result<(), CliError> {
        self.append(&Step::Sent(seq))?;
        self.sent.insert(seq);
        Ok(())
    }

    /// Dead letter `seq` is deleted.
    pub fn done(&mut self, seq: i64) -> Result<(), CliError> {
        self.append(&Step::Done(seq))?;
        self.done.insert(seq);
        Ok(())
    }

    /// Sync what was appended to disk (at the end of a run that stops unfinished).
    pub fn sync(&mut self) -> Result<(), CliError> {
        self.file.sync_data().map_err(|e| failed(&self.path, e))
    }

    /// The run is complete: remove the file.
    pub fn remove(self) -> Result<(), CliError> {
        std::fs::remove_file(&self.path).map_err(|e| failed(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: VERSION,
            endpoint: "http://127.0.0.1:1/servicebus".into(),
            queue: "jobs".into(),
            selection: "all=true".into(),
            started_at: Utc::now(),
            not_selected: 1,
            plan: vec![
                Planned {
                    seq: 3,
                    message_id: "a".into(),
                },
                Planned {
                    seq: 5,
                    message_id: "b".into(),
                },
            ],
        }
    }

    #[test]
    fn a_run_survives_a_restart_and_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("jobctl-cp-{}", std::process::id()));
        let path = dir.join("x/run.jsonl");
        let mut c = Checkpoint::create(&path, header()).unwrap();
        c.sent(3).unwrap();
        c.done(3).unwrap();
        c.sent(5).unwrap();
        drop(c);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        write!(f, "{{\"do").unwrap();
        drop(f);
        let mut c = Checkpoint::open(&path).unwrap().unwrap();
        assert_eq!(c.header, header_like(&c.header));
        assert_eq!(c.done.iter().copied().collect::<Vec<_>>(), [3]);
        assert_eq!(c.sent.iter().copied().collect::<Vec<_>>(), [3, 5]);
        c.done(5).unwrap();
        let c = Checkpoint::open(&path).unwrap().unwrap();
        assert_eq!(c.done.len(), 2, "a step after a torn line still counts");
        c.remove().unwrap();
        assert!(Checkpoint::open(&path).unwrap().is_none());
        std::fs::write(&path, "not json\n").unwrap();
        assert!(matches!(
            Checkpoint::open(&path),
            Err(CliError::Checkpoint { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn header_like(h: &Header) -> Header {
        Header {
            started_at: h.started_at,
            ..header()
        }
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(fnv64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64("a"), 0xaf63_dc4c_8601_ec8c);
        let a = default_path("e", "jobs", "all=true").unwrap();
        let b = default_path("e", "jobs", "all=false").unwrap();
        assert_ne!(a, b);
        assert!(a.to_string_lossy().contains("redrive-jobs-"));
    }
}
