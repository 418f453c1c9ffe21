//! The map's time-series charts of the last 15 minutes, in [`BUCKETS`] buckets of [`BUCKET`]:
//! accepted/s and completed/s, failed attempts/s by kind, p95 processing latency, queue depth and
//! dead letters. Server-rendered SVG, like the rest of the page.
//!
//! Sources, as an operator would read them in Application Insights: the host's own request rows
//! (one per invocation, timed to the microsecond) for accepted requests and processing latency,
//! the handler's custom metrics (`JobSuccess`, `JobFailure` by `failureKind`; exported every few
//! seconds to the devhost) for completions and failures, and the sampled queue counts
//! ([`super::history`]) for depth and dead letters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::capture::parse_duration_ms;
use super::history::Sample;
use crate::config::App;

/// One bucket's width.
pub const BUCKET: Duration = Duration::from_secs(30);
/// Buckets in the window (15 minutes).
pub const BUCKETS: usize = 30;

/// One line of a chart: a value per bucket, oldest first (`None`: nothing measured).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    /// Legend.
    pub label: String,
    /// Values, oldest bucket first.
    pub points: Vec<Option<f64>>,
}

/// One chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chart {
    /// Title.
    pub title: String,
    /// Unit of the values (`/s`, `ms`, `messages`).
    pub unit: &'static str,
    /// Its lines (empty: nothing captured yet).
    pub lines: Vec<Line>,
}

/// Which bucket `at` falls in, if inside the window ending at `now`.
fn bucket(now: DateTime<Utc>, at: DateTime<Utc>) -> Option<usize> {
    let ago = now.signed_duration_since(at).to_std().unwrap_or_default();
    let back = (ago.as_millis() / BUCKET.as_millis()) as usize;
    (back < BUCKETS).then(|| BUCKETS - 1 - back)
}

fn time_of(item: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(item["time"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn base(item: &Value) -> &Value {
    &item["data"]["baseData"]
}

/// Per-bucket sums as rates per second (buckets with nothing in them are 0).
fn rate(label: &str, sums: &[f64]) -> Line {
    Line {
        label: label.to_owned(),
        points: sums
            .iter()
            .map(|s| Some(s / BUCKET.as_secs_f64()))
            .collect(),
    }
}

/// The charts for `app` from captured `items` and queue `samples`, for the window ending `now`.
pub fn build(app: &App, items: &[Value], samples: &[Sample], now: DateTime<Utc>) -> Vec<Chart> {
    let http: Vec<&str> = app.http_triggered().map(|f| f.name.as_str()).collect();
    let triggered: Vec<&str> = app.queue_triggered().map(|f| f.name.as_str()).collect();
    let mut accepted = vec![0.0; BUCKETS];
    let mut completed = vec![0.0; BUCKETS];
    let mut failed: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); BUCKETS];
    for item in items {
        let Some(i) = time_of(item).and_then(|t| bucket(now, t)) else {
            continue;
        };
        let b = base(item);
        match item["data"]["baseType"].as_str() {
            Some("RequestData") if b["properties"]["source"] == "host" => {
                let name = b["name"].as_str().unwrap_or_default();
                if http.contains(&name) && b["responseCode"] == "202" {
                    accepted[i] += 1.0;
                }
                if triggered.contains(&name)
                    && let Some(ms) = b["duration"].as_str().and_then(parse_duration_ms)
                {
                    latencies[i].push(ms);
                }
            }
            Some("MetricData") => {
                // Counters are exported as deltas: `value` is the count of the interval.
                for m in b["metrics"].as_array().into_iter().flatten() {
                    let value = m["value"].as_f64().unwrap_or(0.0);
                    match m["name"].as_str() {
                        Some("JobSuccess") => completed[i] += value,
                        Some("JobFailure") => {
                            let kind = b["properties"]["failureKind"]
                                .as_str()
                                .unwrap_or("unknown")
                                .to_owned();
                            failed.entry(kind).or_insert_with(|| vec![0.0; BUCKETS])[i] += value;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let p95 = latencies
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            // Nearest rank, as the map's edge percentiles.
            (!v.is_empty()).then(|| v[((v.len() as f64 * 0.95).ceil() as usize).max(1) - 1])
        })
        .collect();

    // Queue counts: the last sample in each bucket, per queue.
    let mut depth: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    let mut dead: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    for s in samples {
        if let Some(i) = bucket(now, s.at) {
            depth.entry(&s.queue).or_insert_with(|| vec![None; BUCKETS])[i] = Some(s.depth as f64);
            dead.entry(&s.queue).or_insert_with(|| vec![None; BUCKETS])[i] =
                Some(s.dead_lettered as f64);
        }
    }
    let per_queue = |m: BTreeMap<&str, Vec<Option<f64>>>| -> Vec<Line> {
        m.into_iter()
            .map(|(q, points)| Line {
                label: q.to_owned(),
                points,
            })
            .collect()
    };
    vec![
        Chart {
            title: "Accepted (202) and completed jobs".into(),
            unit: "/s",
            lines: vec![rate("accepted", &accepted), rate("completed", &completed)],
        },
        Chart {
            title: "Failed attempts by kind".into(),
            unit: "/s",
            lines: failed.iter().map(|(k, v)| rate(k, v)).collect(),
        },
        Chart {
            title: "Processing latency, p95".into(),
            unit: "ms",
            lines: vec![Line {
                label: "p95".into(),
                points: p95,
            }],
        },
        Chart {
            title: "Queue depth (active + scheduled)".into(),
            unit: "messages",
            lines: per_queue(depth),
        },
        Chart {
            title: "Dead letters".into(),
            unit: "messages",
            lines: per_queue(dead),
        },
    ]
}

const COLORS: [&str; 6] = [
    "#2e86c1", "#28b463", "#d68910", "#c0392b", "#7d3c98", "#566573",
];

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn number(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// One chart as inline SVG: a line per series (gaps where nothing was measured), the peak on the
/// y axis, the window on the x axis, and a legend with each line's latest value.
pub fn svg(chart: &Chart) -> String {
    let (w, left, top, bottom) = (360.0_f64, 44.0_f64, 26.0_f64, 118.0_f64);
    // Three legend entries a row.
    let h = 150.0 + 14.0 * (chart.lines.len().max(1) - 1).div_euclid(3) as f64;
    let right = w - 8.0;
    let peak = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().flatten())
        .fold(0.0_f64, |a, b| a.max(*b));
    let scale = if peak > 0.0 { peak } else { 1.0 };
    let x = |i: usize| left + (right - left) * i as f64 / (BUCKETS - 1) as f64;
    let y = |v: f64| bottom - (bottom - top) * v / scale;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><text x="8" y="16" class="chart-title">{t} ({u})</text><line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#d5dbdb"/><line x1="{left}" y1="{top}" x2="{right}" y2="{top}" stroke="#eef0f0"/><text x="{lx}" y="{ty}" class="axis" text-anchor="end">{p}</text><text x="{lx}" y="{bottom}" class="axis" text-anchor="end">0</text><text x="{left}" y="{ay}" class="axis">−15 min</text><text x="{right}" y="{ay}" class="axis" text-anchor="end">now</text>"##,
        t = esc(&chart.title),
        u = chart.unit,
        lx = left - 4.0,
        ty = top + 4.0,
        p = number(peak),
        ay = bottom + 14.0,
    );
    for (n, line) in chart.lines.iter().enumerate() {
        let color = COLORS[n % COLORS.len()];
        // One polyline per run of measured buckets.
        let mut run = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() == 1 {
                let _ = write!(
                    out,
                    r#"<circle cx="{}" r="2" fill="{color}"/>"#,
                    run[0].replace(',', "\" cy=\"")
                );
            } else if run.len() > 1 {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{}"/>"#,
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (i, p) in line.points.iter().enumerate() {
            match p {
                Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(*v))),
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
        let latest = line.points.iter().rev().flatten().next();
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" class="legend" fill="{color}">{}: {}</text>"#,
            left + 110.0 * (n % 3) as f64,
            148.0 + 14.0 * (n / 3) as f64,
            esc(&line.label),
            latest.map_or_else(|| "–".to_owned(), |v| number(*v))
        );
    }
    if chart.lines.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" class="axis" text-anchor="middle">nothing yet</text>"#,
            (left + right) / 2.0,
            (top + bottom) / 2.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(now: DateTime<Utc>, secs_ago: i64) -> String {
        (now - chrono::Duration::seconds(secs_ago)).to_rfc3339()
    }

    fn request(now: DateTime<Utc>, ago: i64, name: &str, code: &str, ms: u32) -> Value {
        json!({"time": at(now, ago), "data": {"baseType": "RequestData", "baseData": {
            "name": name, "responseCode": code, "duration": format!("00:00:00.{ms:03}000"),
            "properties": {"source": "host"}}}})
    }

    fn metric(now: DateTime<Utc>, ago: i64, name: &str, value: f64, kind: Option<&str>) -> Value {
        json!({"time": at(now, ago), "data": {"baseType": "MetricData", "baseData": {
            "metrics": [{"name": name, "value": value}],
            "properties": kind.map_or(json!({}), |k| json!({"failureKind": k}))}}})
    }

    use crate::telemetry::test_app as app;

    #[test]
    fn buckets_rates_percentiles_and_samples() {
        let now = Utc::now();
        let mut items = vec![
            // Last bucket: 3 accepted, one 400 that is not; 60 s ago: 1.
            request(now, 1, "IngestJob", "202", 1),
            request(now, 2, "IngestJob", "202", 1),
            request(now, 3, "IngestJob", "202", 1),
            request(now, 4, "IngestJob", "400", 1),
            request(now, 61, "IngestJob", "202", 1),
            // Outside the window.
            request(now, 16 * 60, "IngestJob", "202", 1),
            metric(now, 5, "JobSuccess", 15.0, None),
            metric(now, 5, "JobFailure", 6.0, Some("transient")),
            metric(now, 35, "JobFailure", 3.0, Some("poison")),
        ];
        for ms in 1..=20 {
            items.push(request(now, 2, "ProcessJob", "200", ms * 10));
        }
        let samples = [Sample {
            at: now - chrono::Duration::seconds(40),
            queue: "jobs".into(),
            depth: 7,
            dead_lettered: 2,
        }];
        let charts = build(&app(), &items, &samples, now);
        let last = BUCKETS - 1;
        let throughput = &charts[0];
        assert_eq!(throughput.lines[0].points[last], Some(0.1));
        assert_eq!(throughput.lines[0].points[last - 2], Some(1.0 / 30.0));
        let accepted: f64 = throughput.lines[0].points.iter().flatten().sum();
        assert!((accepted - 4.0 / 30.0).abs() < 1e-9, "{accepted}");
        assert_eq!(throughput.lines[1].points[last], Some(0.5));
        let failed = &charts[1];
        let labels: Vec<&str> = failed.lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["poison", "transient"]);
        assert_eq!(failed.lines[0].points[last - 1], Some(0.1));
        assert_eq!(failed.lines[1].points[last], Some(0.2));
        // p95 of 10..200 ms by nearest rank is the 19th value.
        assert_eq!(charts[2].lines[0].points[last], Some(190.0));
        assert_eq!(charts[2].lines[0].points[last - 1], None);
        assert_eq!(charts[3].lines[0].points[last - 1], Some(7.0));
        assert_eq!(charts[3].lines[0].points[last], None);
        assert_eq!(charts[4].lines[0].points[last - 1], Some(2.0));
        let svg = svg(&charts[0]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(
            svg.contains("<polyline") && svg.contains("accepted: 0.1"),
            "{svg}"
        );
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn an_empty_capture_draws_empty_charts() {
        let charts = build(&app(), &[], &[], Utc::now());
        assert_eq!(charts.len(), 5);
        assert!(charts[1].lines.is_empty());
        assert!(svg(&charts[1]).contains("nothing yet"));
        assert!(charts[0].lines[0].points.iter().all(|p| *p == Some(0.0)));
    }
}
