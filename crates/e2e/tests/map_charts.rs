//! The map's charts of the last 15 minutes, from what the real handler exported and the devhost
//! recorded: the buckets add up to the pipeline's own counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{SAMPLE_JOB, counts, start_app, strings};
use serde_json::Value;

const JOBS: u64 = 30;

/// A line's values per second back to counts (30 s buckets).
fn total(line: &Value) -> f64 {
    let sum: f64 = line["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .sum();
    (sum * 30.0).round()
}

/// The failed attempts of every kind on the failures chart.
fn failed(charts: &Value) -> f64 {
    charts[1]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(total)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_charts_add_up_to_the_pipelines_counts() {
    let (_app, d) = start_app(
        5,
        &[
            ("CHAOS_FAILURE_RATE", "0.5"),
            ("CHAOS_SEED", "777"),
            ("PROCESSING_DELAY_MS", "0"),
            ("RETRY_BACKOFF", "off"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ],
    )
    .await;
    for _ in 0..JOBS {
        assert_eq!(d.submit(SAMPLE_JOB).await.unwrap().0, 202);
    }
    let q = d.drained(JOBS, Duration::from_secs(60)).await;
    let [completed, abandoned, dead] =
        counts(&q, ["completed", "abandoned", "deadLettered"]).map(|n| n as f64);
    assert!(abandoned > 0.0, "chaos at 50% failed nothing: {q}");

    // Metrics arrive on the exporter's interval, queue samples every 5 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let charts = loop {
        let charts = d.get_json("/map.json").await["charts"].clone();
        let failed = failed(&charts);
        let sampled_dead = charts[4]["lines"][0]["points"]
            .as_array()
            .and_then(|p| p.iter().rev().find_map(Value::as_f64));
        let settled = total(&charts[0]["lines"][1]) == completed
            && failed == abandoned
            && sampled_dead == Some(dead);
        if settled || Instant::now() > deadline {
            break charts;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let titles = strings(&charts, "title");
    assert_eq!(
        titles,
        [
            "Accepted (202) and completed jobs",
            "Failed attempts by kind",
            "Processing latency, p95",
            "Queue depth (active + scheduled)",
            "Dead letters"
        ]
    );
    assert_eq!(charts[0]["lines"][0]["label"], "accepted");
    assert_eq!(total(&charts[0]["lines"][0]), JOBS as f64, "{charts}");
    assert_eq!(total(&charts[0]["lines"][1]), completed, "{charts}");
    assert_eq!(failed(&charts), abandoned, "{charts}");
    let p95 = charts[2]["lines"][0]["points"].as_array().unwrap();
    assert!(
        p95.iter().any(|p| p.as_f64().is_some_and(|ms| ms > 0.0)),
        "{charts}"
    );
    assert_eq!(charts[3]["lines"][0]["label"], "jobs");
    let dead_now = charts[4]["lines"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(Value::as_f64);
    assert_eq!(dead_now, Some(dead), "{charts}");

    let page = d.get_text("/map").await;
    assert_eq!(page.matches(r#"<svg class="chart""#).count(), 5);
    assert!(page.contains("Last 15 minutes") && !page.contains("<script"));
}
