//! The real exporter (in the real handler) pointed at the devhost's ingestion endpoint; the local
//! Application Map drawn from what it captured, checked in a real headless browser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Devhost, SAMPLE_JOB, counts, start_app, strings};
use serde_json::Value;

const JOBS: u64 = 40;

async fn map(d: &Devhost) -> Value {
    d.get_json("/map.json").await
}

async fn captured(d: &Devhost) -> Vec<Value> {
    let text = d.get_text("/admin/telemetry").await;
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn is_host(item: &Value) -> bool {
    item["tags"]["ai.cloud.roleInstance"] == "devhost"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exported_telemetry_reconciles_and_the_map_renders() {
    // The handler is told the queue's delivery count too: the audit counts dead letters by it.
    let (_app, d) = start_app(
        5,
        &[
            ("CHAOS_FAILURE_RATE", "0.5"),
            ("CHAOS_SEED", "424242"),
            ("PROCESSING_DELAY_MS", "0"),
            // Broker redelivery (one message per job); backoff has its own tests.
            ("RETRY_BACKOFF", "off"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
            ("WEBSITE_SITE_NAME", "Func-Jobs-Local"),
        ],
    )
    .await;
    // Two tenants, for the per-tenant audit.
    let fabrikam = SAMPLE_JOB.replace("contoso", "fabrikam");
    for i in 0..JOBS {
        let job = if i % 4 == 0 { &fabrikam } else { SAMPLE_JOB };
        assert_eq!(d.submit(job).await.unwrap().0, 202);
    }
    assert_eq!(
        d.submit(r#"{"jobType":"nope","tenantId":"t","payload":{}}"#)
            .await
            .unwrap()
            .0,
        400
    );
    let q = d.drained(JOBS, Duration::from_secs(60)).await;
    let [completed, abandoned, dead] = counts(&q, ["completed", "abandoned", "deadLettered"]);
    assert_eq!(completed + dead, JOBS);
    let attempts = completed + abandoned;

    // Metrics arrive on the exporter's interval; spans in batches. A counter never incremented
    // is never exported.
    let expected: BTreeMap<String, f64> = [
        ("JobFailure", abandoned as f64),
        ("JobIngestionStart", JOBS as f64),
        ("JobProcessingLatencyMs", attempts as f64),
        ("JobRejected", 1.0),
        ("JobSuccess", completed as f64),
        ("TenantJobReceived", JOBS as f64),
        ("TenantJobCompleted", completed as f64),
        ("TenantJobAttemptFailed", abandoned as f64),
        ("TenantJobDeadLettered", dead as f64),
    ]
    .into_iter()
    .filter(|(_, v)| *v > 0.0)
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics = BTreeMap::new();
    let mut spans = Vec::new();
    while Instant::now() < deadline {
        let m = map(&d).await;
        metrics = serde_json::from_value(m["metrics"].clone()).unwrap();
        spans = captured(&d)
            .await
            .into_iter()
            .filter(|i| !is_host(i) && i["data"]["baseType"] != "MetricData")
            .collect();
        let process_spans = spans
            .iter()
            .filter(|s| s["data"]["baseData"]["name"] == "ProcessJob")
            .count() as u64;
        if metrics == expected && process_spans == attempts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        metrics, expected,
        "exactly the expected metric names and counts"
    );

    // Per-tenant audit: every job received once, and each ends completed or dead-lettered (the
    // exact reconciliation through crashes and resubmission is tests/audit.rs).
    let tenants: BTreeMap<String, BTreeMap<String, f64>> =
        serde_json::from_value(map(&d).await["tenants"].clone()).unwrap();
    assert_eq!(
        tenants.keys().map(String::as_str).collect::<Vec<_>>(),
        ["contoso", "fabrikam"]
    );
    let total = |t: &str, name: &str| tenants[t].get(name).copied().unwrap_or(0.0);
    assert_eq!(total("fabrikam", "TenantJobReceived"), (JOBS / 4) as f64);
    assert_eq!(
        total("contoso", "TenantJobReceived"),
        (JOBS - JOBS / 4) as f64
    );
    for t in ["contoso", "fabrikam"] {
        assert_eq!(
            total(t, "TenantJobReceived"),
            total(t, "TenantJobCompleted") + total(t, "TenantJobDeadLettered"),
            "tenant {t}: {tenants:?}"
        );
    }

    // Role name: the function app's, as the host derives it.
    let all = captured(&d).await;
    for item in all.iter().filter(|i| !is_host(i)) {
        assert_eq!(item["tags"]["ai.cloud.role"], "func-jobs-local", "{item}");
    }

    // One operation per job spanning IngestJob, jobs send and every ProcessJob attempt.
    let mut ops: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for s in &spans {
        ops.entry(s["tags"]["ai.operation.id"].as_str().unwrap().to_owned())
            .or_default()
            .push(s);
    }
    let named = |op: &[&Value], name: &str| -> Vec<Value> {
        op.iter()
            .filter(|s| s["data"]["baseData"]["name"] == name)
            .map(|s| (*s).clone())
            .collect()
    };
    let mut jobs = BTreeSet::new();
    let mut traced_attempts = 0;
    for (op, items) in &ops {
        let ingest = named(items, "IngestJob");
        if ingest.is_empty() {
            continue; // the rejected request's operation has an IngestJob span; others would be poison
        }
        let sends = named(items, "jobs send");
        let process = named(items, "ProcessJob");
        if ingest[0]["data"]["baseData"]["resultCode"] == "400" {
            assert!(
                sends.is_empty() && process.is_empty(),
                "a rejected job is never sent: {op}"
            );
            continue;
        }
        assert_eq!((ingest.len(), sends.len()), (1, 1), "operation {op}");
        assert!(
            !process.is_empty(),
            "operation {op} has no processing attempt"
        );
        let send_id = sends[0]["data"]["baseData"]["id"].as_str().unwrap();
        assert_eq!(
            sends[0]["tags"]["ai.operation.parentId"], ingest[0]["data"]["baseData"]["id"],
            "send is a child of IngestJob"
        );
        let mut deliveries = BTreeSet::new();
        for p in &process {
            assert_eq!(
                p["tags"]["ai.operation.parentId"], send_id,
                "every attempt is a child of the send"
            );
            deliveries.insert(
                p["data"]["baseData"]["properties"]["messaging.servicebus.message.delivery_count"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(deliveries.len(), process.len(), "one span per delivery");
        jobs.insert(
            ingest[0]["data"]["baseData"]["properties"]["job.id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        traced_attempts += process.len() as u64;
    }
    assert_eq!(jobs.len() as u64, JOBS, "one operation per accepted job");
    assert_eq!(
        traced_attempts, attempts,
        "every processing attempt is in its job's operation"
    );

    // The map page: five nodes, non-zero counts, in the HTML and in a real browser.
    let m = map(&d).await;
    let ids = strings(&m["nodes"], "id");
    assert_eq!(
        ids,
        [
            "client",
            "IngestJob",
            "jobs",
            "ProcessJob",
            "jobs/$DeadLetterQueue"
        ]
    );
    let edge = |from: &str, to: &str| {
        m["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .unwrap()
            .clone()
    };
    assert_eq!(edge("client", "IngestJob")["calls"], JOBS + 1);
    assert_eq!(edge("IngestJob", "jobs")["calls"], JOBS);
    assert_eq!(edge("jobs", "ProcessJob")["calls"], attempts);
    assert!(
        edge("jobs", "ProcessJob")["failurePercent"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let html = d.get_text("/map").await;
    let received = |t: &str| total(t, "TenantJobReceived");
    let tenant_cells = [
        format!(
            "<td data-metric=\"TenantJobReceived\">{}</td>",
            received("contoso")
        ),
        format!(
            "<td data-metric=\"TenantJobReceived\">{}</td>",
            received("fabrikam")
        ),
    ];
    browser_check(&d.url, &html, attempts, &tenant_cells);
}

/// Load /map in Debian's headless Chromium: the rendered DOM has the five nodes and the counts,
/// and a screenshot is written to `<target>/artifacts/map.png`.
fn browser_check(url: &str, html: &str, attempts: u64, tenant_cells: &[String]) {
    for tenant in ["data-tenant=\"contoso\"", "data-tenant=\"fabrikam\""] {
        assert!(html.contains(tenant), "{tenant} row missing from the page");
    }
    for node in [
        "data-id=\"client\"",
        "data-id=\"IngestJob\"",
        "data-id=\"jobs\"",
        "data-id=\"ProcessJob\"",
        "data-id=\"jobs/$DeadLetterQueue\"",
    ] {
        assert!(html.contains(node), "{node} missing from the page");
    }
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required in CI (apt-get install chromium)"
        );
        eprintln!("SKIPPED browser check: chromium is not installed (apt-get install chromium)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ];
    let run = |extra: &[&str]| {
        Command::new(&chromium)
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("{url}/map"))
            .output()
            .expect("chromium runs")
    };
    let dom = String::from_utf8_lossy(&run(&["--dump-dom"]).stdout).into_owned();
    for label in [
        "client",
        "IngestJob",
        "queue jobs",
        "ProcessJob",
        "jobs dead letters",
    ] {
        assert!(
            dom.contains(&format!(">{label}</text>")),
            "the browser did not render node {label}"
        );
    }
    assert!(
        dom.contains(&format!("{attempts} calls")),
        "the browser did not render the ProcessJob call count"
    );
    for cell in tenant_cells {
        assert!(
            dom.contains(cell.as_str()),
            "the browser did not render the per-tenant cell {cell}"
        );
    }
    let artifacts = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("map.png");
    let _ = std::fs::remove_file(&shot);
    run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,1000",
    ]);
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot looks empty"
    );
    eprintln!("map screenshot: {}", shot.display());
}
