//! The load generator: `oha` (a well-kept Rust HTTP load tool), run as a child process with JSON
//! output. Closed-loop runs (`connections` busy clients) measure capacity; open-loop runs at a
//! fixed offered rate (`-q`, with latency correction for coordinated omission) measure latency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// One load run.
#[derive(Debug, Clone)]
pub struct Load {
    /// Target URL.
    pub url: String,
    /// Request body (POSTed as `application/json`).
    pub body: String,
    /// How long to run.
    pub duration: Duration,
    /// Concurrent connections.
    pub connections: u32,
    /// Offered rate in requests per second; `None` runs closed-loop as fast as possible.
    pub rate: Option<u32>,
    /// Extra request headers (`name: value`).
    pub headers: Vec<String>,
}

/// What one run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Requests answered (any status).
    pub answered: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Transport errors by message.
    pub errors: BTreeMap<String, u64>,
    /// Answered requests per second over the run.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Wall time of the run, s.
    pub seconds: f64,
}

impl Outcome {
    /// Answers with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Transport errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The `oha` executable to use.
#[derive(Debug, Clone)]
pub struct Oha {
    exe: PathBuf,
    /// `oha --version`.
    pub version: String,
}

impl Oha {
    /// `path` if given, else `oha` on `PATH`; checks that it runs.
    pub fn locate(path: Option<&Path>) -> Result<Self> {
        let exe = path.map_or_else(|| PathBuf::from("oha"), Path::to_path_buf);
        let out = Command::new(&exe).arg("--version").output().with_context(|| {
            format!(
                "cannot run {}: install it with `cargo install oha --locked` (or run `cargo xtask bench`, which does)",
                exe.display()
            )
        })?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(Self { exe, version })
    }

    /// Run `load` and parse oha's JSON summary.
    pub fn run(&self, load: &Load) -> Result<Outcome> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["--no-tui", "--output-format", "json", "-m", "POST"])
            .args(["-T", "application/json"])
            .args(["-d", &load.body])
            .args(["-c", &load.connections.to_string()])
            .args(["-z", &format!("{}ms", load.duration.as_millis())])
            .arg("--wait-ongoing-requests-after-deadline");
        for h in &load.headers {
            cmd.args(["-H", h]);
        }
        if let Some(rate) = load.rate {
            cmd.args(["-q", &rate.to_string(), "--latency-correction"]);
        }
        cmd.arg(&load.url);
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        if !out.status.success() {
            bail!(
                "oha failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        parse(&out.stdout)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    summary: Summary,
    #[serde(default)]
    latency_percentiles: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    status_code_distribution: BTreeMap<String, u64>,
    #[serde(default)]
    error_distribution: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    total: f64,
    #[serde(default)]
    slowest: Option<f64>,
}

/// Parse `oha --output-format json` (times in seconds).
pub fn parse(json: &[u8]) -> Result<Outcome> {
    let report: Report = serde_json::from_slice(json).context("oha printed no JSON summary")?;
    let pct = |key: &str| {
        report
            .latency_percentiles
            .get(key)
            .copied()
            .flatten()
            .unwrap_or(0.0)
            * 1000.0
    };
    let statuses: BTreeMap<u16, u64> = report
        .status_code_distribution
        .iter()
        .filter_map(|(k, v)| k.parse().ok().map(|k| (k, *v)))
        .collect();
    let answered = statuses.values().sum();
    let seconds = report.summary.total;
    Ok(Outcome {
        answered,
        rps: if seconds > 0.0 {
            answered as f64 / seconds
        } else {
            0.0
        },
        statuses,
        errors: report.error_distribution,
        p50_ms: pct("p50"),
        p99_ms: pct("p99"),
        max_ms: report.summary.slowest.unwrap_or(0.0) * 1000.0,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oha_json() {
        let json = br#"{"summary":{"successRate":1.0,"total":2.0,"slowest":0.012,"fastest":0.0001,"average":0.001,"requestsPerSec":1000.0},
            "latencyPercentiles":{"p10":0.0005,"p50":0.001,"p99":0.004,"p99.9":0.01},
            "statusCodeDistribution":{"202":1990,"429":10},
            "errorDistribution":{"connection closed":3}}"#;
        let o = parse(json).unwrap();
        assert_eq!(
            (o.answered, o.count(202), o.count(429), o.error_count()),
            (2000, 1990, 10, 3)
        );
        assert!((o.rps - 1000.0).abs() < 1e-9);
        assert!((o.p50_ms - 1.0).abs() < 1e-9 && (o.p99_ms - 4.0).abs() < 1e-9);
        assert!((o.max_ms - 12.0).abs() < 1e-9);
        assert!(parse(b"not json").is_err());
    }
}
