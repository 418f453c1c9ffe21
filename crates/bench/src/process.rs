//! Child processes under measurement: start, readiness, resident memory, stop.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// A started server process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Loopback port it listens on.
    pub port: u16,
    /// Time from spawn to the first HTTP answer on `GET /`.
    pub ready_after: Duration,
}

/// A free loopback port (bound then released: the child binds it next).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Start `exe` with `args` and `env`, then wait up to `timeout` for `GET /` on `port` to answer.
    /// Output goes to `log` (or nowhere).
    pub fn start(
        exe: &Path,
        args: &[String],
        env: &BTreeMap<String, String>,
        port: u16,
        log: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self> {
        let (out, err) = match log {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args(args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if answers(addr) {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("{} exited with {status} before it answered", exe.display());
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                bail!(
                    "{} did not answer on port {port} within {timeout:?}",
                    exe.display()
                );
            }
            std::thread::sleep(Duration::from_micros(250));
        }
        Ok(Self {
            ready_after: started.elapsed(),
            child,
            port,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Current and peak resident memory.
    pub fn memory(&self) -> Result<Memory> {
        Memory::of(self.pid())
    }

    /// Stop it as a supervisor would: SIGTERM, up to 10 s to exit, then SIGKILL. A devhost needs
    /// the SIGTERM to stop its handler workers; killed outright, it would leave them running.
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if signalled {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Live processes (not zombies) running the executable at `exe`, from `/proc/*/exe`.
pub fn running(exe: &Path) -> Vec<u32> {
    let Ok(exe) = exe.canonicalize() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|target| target == exe)
        })
        .collect()
}

/// `GET /` over a fresh connection answered with any HTTP status line.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(50)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ")
}

/// Resident memory of a process, from `/proc/{pid}/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM` (peak RSS), KiB.
    pub peak_kib: u64,
}

impl Memory {
    /// Read it for `pid`.
    pub fn of(pid: u32) -> Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        Ok(Self::parse(&status))
    }

    fn parse(status: &str) -> Self {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }

    /// Current RSS in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    /// Peak RSS in MiB.
    pub fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
}

/// Size of a file in MiB, if it exists.
pub fn size_mib(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
}

/// Binaries the suite runs, from one build folder (`target/release`).
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The custom handler.
    pub handler: PathBuf,
    /// The devhost.
    pub devhost: PathBuf,
    /// The axum baseline.
    pub baseline: PathBuf,
}

impl Binaries {
    /// The three binaries in `dir`; an error names the first one missing.
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                bail!(
                    "{} not found: build it with `cargo build --release -p {}` (or run `cargo xtask bench`)",
                    path.display(),
                    if name == "bench-baseline" {
                        "bench"
                    } else {
                        name
                    }
                )
            }
        };
        Ok(Self {
            handler: find("handler")?,
            devhost: find("devhost")?,
            baseline: find("bench-baseline")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status() {
        let m = Memory::parse("Name:\thandler\nVmHWM:\t  9876 kB\nVmRSS:\t  5432 kB\n");
        assert_eq!((m.rss_kib, m.peak_kib), (5432, 9876));
        let me = Memory::of(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.peak_kib >= me.rss_kib);
    }
}
