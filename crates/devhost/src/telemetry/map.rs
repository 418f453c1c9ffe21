//! The Application Map model, computed from captured telemetry and live queue counts.
//!
//! Nodes: the client, every HTTP-triggered function, every queue, every Service Bus-triggered
//! function, and each queue's dead-letter subqueue. Edges carry call counts, failure percentage and
//! p50/p95 latency from the host's own request and dependency rows (as Azure's map uses the host's
//! telemetry), and the dead-letter edge the queue's dead-letter count. The handler's own telemetry
//! (custom metrics, spans) is summarised beside it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::capture::{HOST_INSTANCE, parse_duration_ms};
use crate::config::App;
use broker::store::QueueStats;

/// A map node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Node {
    /// Stable id.
    pub id: String,
    /// Display label.
    pub label: String,
    /// `client`, `function`, `queue` or `deadletter`.
    pub kind: &'static str,
}

/// A map edge.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
    /// Calls (or messages).
    pub calls: u64,
    /// Failed calls.
    pub failed: u64,
    /// Failure percentage.
    pub failure_percent: f64,
    /// Median latency.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency.
    pub p95_ms: Option<f64>,
}

/// The whole map.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMap {
    /// Nodes, left to right.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
    /// Live queue counts.
    pub queues: Vec<QueueStats>,
    /// The handler's custom metrics: totals by name (histograms: number of measurements).
    pub metrics: BTreeMap<String, f64>,
    /// Custom metric totals broken down by their `tenantId` dimension: tenant -> metric -> total
    /// (only metrics that carry the dimension, such as the handler's per-tenant audit counters).
    pub tenants: BTreeMap<String, BTreeMap<String, f64>>,
    /// Distinct operation ids in the handler's telemetry (one per job).
    pub operations: usize,
    /// Envelopes captured.
    pub captured: usize,
    /// Envelopes dropped from the bounded capture.
    pub dropped: u64,
    /// Time series of the last 15 minutes ([`super::charts`]); filled by the page.
    pub charts: Vec<super::charts::Chart>,
}

fn base(item: &Value) -> &Value {
    &item["data"]["baseData"]
}

fn kind(item: &Value) -> &str {
    item["data"]["baseType"].as_str().unwrap_or_default()
}

fn from_host(item: &Value) -> bool {
    item["tags"]["ai.cloud.roleInstance"] == HOST_INSTANCE
        && base(item)["properties"]["source"] == "host"
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn edge(from: &str, to: &str, rows: &[&Value]) -> Edge {
    let failed = rows
        .iter()
        .filter(|r| {
            let b = base(r);
            b["success"] == false
                || b["responseCode"]
                    .as_str()
                    .and_then(|c| c.parse::<u16>().ok())
                    .is_some_and(|c| c >= 500)
        })
        .count() as u64;
    let mut durations: Vec<f64> = rows
        .iter()
        .filter_map(|r| base(r)["duration"].as_str().and_then(parse_duration_ms))
        .collect();
    durations.sort_by(f64::total_cmp);
    let calls = rows.len() as u64;
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        calls,
        failed,
        failure_percent: if calls == 0 {
            0.0
        } else {
            100.0 * failed as f64 / calls as f64
        },
        p50_ms: percentile(&durations, 50.0),
        p95_ms: percentile(&durations, 95.0),
    }
}

/// Dead-letter node id of a queue.
pub fn dlq_id(queue: &str) -> String {
    format!("{queue}/$DeadLetterQueue")
}

/// Build the map.
pub fn build(app: &App, items: &[Value], queues: Vec<QueueStats>, dropped: u64) -> AppMap {
    let host: Vec<&Value> = items.iter().filter(|i| from_host(i)).collect();
    let requests = |name: &str| -> Vec<&Value> {
        host.iter()
            .copied()
            .filter(|i| kind(i) == "RequestData" && base(i)["name"] == name)
            .collect()
    };
    let mut nodes = vec![Node {
        id: "client".into(),
        label: "client".into(),
        kind: "client",
    }];
    let mut edges = Vec::new();
    let mut queue_names = BTreeSet::new();
    for f in app.http_triggered() {
        nodes.push(Node {
            id: f.name.clone(),
            label: f.name.clone(),
            kind: "function",
        });
        edges.push(edge("client", &f.name, &requests(&f.name)));
        for (_, queue) in f.service_bus_outputs() {
            queue_names.insert(queue.to_owned());
            let sends: Vec<&Value> = host
                .iter()
                .copied()
                .filter(|i| {
                    kind(i) == "RemoteDependencyData"
                        && base(i)["name"] == "Message"
                        && base(i)["properties"]["queue"] == queue
                        && base(i)["properties"]["function"] == f.name.as_str()
                })
                .collect();
            edges.push(edge(&f.name, queue, &sends));
        }
    }
    for f in &app.functions {
        if let Some((_, queue)) = f.service_bus_trigger() {
            queue_names.insert(queue.to_owned());
            edges.push(edge(queue, &f.name, &requests(&f.name)));
        }
    }
    for q in &queue_names {
        nodes.push(Node {
            id: q.clone(),
            label: format!("queue {q}"),
            kind: "queue",
        });
    }
    for f in app.queue_triggered() {
        nodes.push(Node {
            id: f.name.clone(),
            label: f.name.clone(),
            kind: "function",
        });
    }
    for q in &queue_names {
        let dead = queues
            .iter()
            .find(|s| &s.name == q)
            .map_or(0, |s| s.dead_lettered);
        nodes.push(Node {
            id: dlq_id(q),
            label: format!("{q} dead letters"),
            kind: "deadletter",
        });
        edges.push(Edge {
            from: q.clone(),
            to: dlq_id(q),
            calls: dead,
            failed: 0,
            failure_percent: 0.0,
            p50_ms: None,
            p95_ms: None,
        });
    }

    let mut metrics = BTreeMap::new();
    let mut tenants: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut operations = BTreeSet::new();
    for item in items.iter().filter(|i| !from_host(i)) {
        if let Some(op) = item["tags"]["ai.operation.id"].as_str() {
            operations.insert(op.to_owned());
        }
        if kind(item) == "MetricData" {
            let tenant = base(item)["properties"]["tenantId"].as_str();
            for m in base(item)["metrics"].as_array().into_iter().flatten() {
                let Some(name) = m["name"].as_str() else {
                    continue;
                };
                let amount = m["count"]
                    .as_f64()
                    .unwrap_or_else(|| m["value"].as_f64().unwrap_or(0.0));
                *metrics.entry(name.to_owned()).or_insert(0.0) += amount;
                if let Some(tenant) = tenant {
                    *tenants
                        .entry(tenant.to_owned())
                        .or_default()
                        .entry(name.to_owned())
                        .or_insert(0.0) += amount;
                }
            }
        }
    }
    AppMap {
        nodes,
        edges,
        queues,
        metrics,
        tenants,
        operations: operations.len(),
        captured: items.len(),
        dropped,
        charts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Capture;
    use serde_json::json;
    use std::time::Duration;

    use crate::telemetry::test_app as app;

    #[test]
    fn edges_from_host_rows_and_metrics_from_the_handler() {
        let c = Capture::new(100);
        let op = crate::telemetry::Operation::continue_from(None);
        for ms in [10, 20, 30, 40] {
            c.host_request("IngestJob", &op, Duration::from_millis(ms), 202, true);
            c.host_message("IngestJob", &op, "jobs", "sb://ns/jobs", &op.child().1);
        }
        c.host_request("ProcessJob", &op, Duration::from_millis(5), 200, true);
        c.host_request("ProcessJob", &op, Duration::from_millis(7), 500, false);
        c.extend([json!({"data": {"baseType": "MetricData", "baseData": {"metrics": [{"name": "JobIngestionStart", "value": 4.0}]}},
                        "tags": {"ai.operation.id": "op1"}})]);
        let tenant_metric = |tenant: &str, name: &str, value: f64| {
            json!({"data": {"baseType": "MetricData", "baseData": {"metrics": [{"name": name, "value": value}], "properties": {"tenantId": tenant}}},
                   "tags": {"ai.operation.id": "op1"}})
        };
        c.extend([
            tenant_metric("contoso", "TenantJobReceived", 3.0),
            tenant_metric("contoso", "TenantJobReceived", 2.0),
            tenant_metric("contoso", "TenantJobDeadLettered", 1.0),
            tenant_metric("fabrikam", "TenantJobCompleted", 4.0),
        ]);
        let stats = vec![QueueStats {
            name: "jobs".into(),
            dead_lettered: 2,
            ..QueueStats::default()
        }];
        let map = build(&app(), &c.snapshot(), stats, 0);
        assert_eq!(
            map.nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            [
                "client",
                "IngestJob",
                "jobs",
                "ProcessJob",
                "jobs/$DeadLetterQueue"
            ]
        );
        let e = |from: &str, to: &str| {
            map.edges
                .iter()
                .find(|e| e.from == from && e.to == to)
                .unwrap()
                .clone()
        };
        assert_eq!(
            (
                e("client", "IngestJob").calls,
                e("client", "IngestJob").p50_ms,
                e("client", "IngestJob").p95_ms
            ),
            (4, Some(20.0), Some(40.0))
        );
        assert_eq!(e("IngestJob", "jobs").calls, 4);
        assert_eq!(
            (
                e("jobs", "ProcessJob").calls,
                e("jobs", "ProcessJob").failure_percent
            ),
            (2, 50.0)
        );
        assert_eq!(e("jobs", "jobs/$DeadLetterQueue").calls, 2);
        assert_eq!((map.metrics["JobIngestionStart"], map.operations), (4.0, 1));
        assert_eq!(
            map.tenants.keys().map(String::as_str).collect::<Vec<_>>(),
            ["contoso", "fabrikam"]
        );
        assert_eq!(map.tenants["contoso"]["TenantJobReceived"], 5.0);
        assert_eq!(map.tenants["contoso"]["TenantJobDeadLettered"], 1.0);
        assert_eq!(map.tenants["fabrikam"]["TenantJobCompleted"], 4.0);
        assert_eq!(map.metrics["TenantJobReceived"], 5.0);
    }
}
