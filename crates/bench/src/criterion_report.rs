//! Read the estimates criterion writes under `target/criterion/<id>/new/`.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Deserialize;

/// One micro-benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Criterion's full id (`group/function`).
    pub id: String,
    /// Mean time per iteration, ns.
    pub mean_ns: f64,
    /// Median time per iteration, ns.
    pub median_ns: f64,
}

#[derive(Deserialize)]
struct Benchmark {
    full_id: String,
}

#[derive(Deserialize)]
struct Estimates {
    mean: Point,
    median: Point,
}

#[derive(Deserialize)]
struct Point {
    point_estimate: f64,
}

/// Every benchmark under `dir` (criterion's output folder), sorted by id.
pub fn read(dir: &Path) -> Result<Vec<Estimate>> {
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Estimate>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let bench = path.join("benchmark.json");
            let est = path.join("estimates.json");
            if bench.is_file() && est.is_file() {
                let b: Benchmark = serde_json::from_slice(&std::fs::read(&bench)?)
                    .with_context(|| format!("{}", bench.display()))?;
                let e: Estimates = serde_json::from_slice(&std::fs::read(&est)?)
                    .with_context(|| format!("{}", est.display()))?;
                out.push(Estimate {
                    id: b.full_id,
                    mean_ns: e.mean.point_estimate,
                    median_ns: e.median.point_estimate,
                });
            }
        } else if path.file_name().is_some_and(|n| n != "report") {
            walk(&path, out)?;
        }
    }
    Ok(())
}

/// A duration in ns for people: `850 ns`, `12.3 µs`, `4.56 ms`.
pub fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_layout() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("envelope/build/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::create_dir_all(dir.path().join("envelope/build/base")).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"envelope","function_id":"build","full_id":"envelope/build"}"#,
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":1500.0,"standard_error":1.0},"median":{"point_estimate":1400.0}}"#,
        )
        .unwrap();
        let got = read(dir.path()).unwrap();
        assert_eq!(
            got,
            vec![Estimate {
                id: "envelope/build".into(),
                mean_ns: 1500.0,
                median_ns: 1400.0
            }]
        );
        assert_eq!(human(850.0), "850 ns");
        assert_eq!(human(12_340.0), "12.3 µs");
        assert_eq!(human(4_560_000.0), "4.56 ms");
    }
}
