//! What the figures were measured on.

use std::process::Command;

/// The machine and toolchain behind a run.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs available.
    pub cpus: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// `uname -sr`.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// `git rev-parse --short HEAD` (plus `-dirty`).
    pub commit: String,
}

impl Machine {
    /// Read it off this machine.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let dirty = !command("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
        let mut commit = command("git", &["rev-parse", "--short", "HEAD"]);
        if dirty && !commit.is_empty() {
            commit.push_str("-dirty");
        }
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            kernel: command("uname", &["-sr"]),
            rustc: command("rustc", &["--version"]),
            commit,
        }
    }
}

fn command(exe: &str, args: &[&str]) -> String {
    Command::new(exe)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
