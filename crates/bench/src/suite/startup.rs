//! Process figures: start-to-first-answer, idle memory, binary size.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::Context;
use crate::process::{Memory, Server, free_port, size_mib};

/// Start-up and footprint figures for one executable.
#[derive(Debug, Clone)]
pub struct Startup {
    /// Start-to-first-answer times, sorted, ms.
    pub ready_ms: Vec<f64>,
    /// Memory after start-up, idle for a second.
    pub idle: Memory,
    /// Executable size, MiB.
    pub size_mib: f64,
}

impl Startup {
    /// Median start-to-first-answer, ms.
    pub fn median_ms(&self) -> f64 {
        percentile(&self.ready_ms, 0.5)
    }

    /// Slowest start, ms.
    pub fn max_ms(&self) -> f64 {
        self.ready_ms.last().copied().unwrap_or(0.0)
    }
}

/// Figures for the handler and, for comparison, the baseline; plus the static musl handler's size
/// when one was built.
#[derive(Debug, Clone)]
pub struct Process {
    /// The handler.
    pub handler: Startup,
    /// The baseline.
    pub baseline: Startup,
    /// The `x86_64-unknown-linux-musl` handler (what CI stages), if built.
    pub musl_size_mib: Option<f64>,
}

/// Measure both.
pub fn run(cx: &Context, musl_handler: Option<&PathBuf>) -> Result<Process> {
    Ok(Process {
        handler: measure(cx, &cx.bins.handler)?,
        baseline: measure(cx, &cx.bins.baseline)?,
        musl_size_mib: musl_handler.and_then(|p| size_mib(p)),
    })
}

fn measure(cx: &Context, exe: &Path) -> Result<Startup> {
    let mut ready_ms = Vec::with_capacity(cx.plan.startup_runs);
    let mut idle = Memory::default();
    for i in 0..cx.plan.startup_runs {
        let port = free_port()?;
        let server = Server::start(
            exe,
            &[],
            &cx.handler_env(port),
            port,
            None,
            Duration::from_secs(30),
        )?;
        ready_ms.push(server.ready_after.as_secs_f64() * 1000.0);
        if i == 0 {
            std::thread::sleep(Duration::from_secs(1));
            idle = server.memory()?;
        }
        server.stop();
    }
    ready_ms.sort_by(f64::total_cmp);
    Ok(Startup {
        ready_ms,
        idle,
        size_mib: size_mib(exe).unwrap_or(0.0),
    })
}

/// The `q` quantile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.0);
        assert_eq!(percentile(&v, 0.99), 4.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
