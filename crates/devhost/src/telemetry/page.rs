//! The local Application Map page (`GET /map`), its JSON (`GET /map.json`), the resubmit action,
//! and the captured telemetry as JSON lines (`GET /admin/telemetry`). Server-rendered HTML with
//! inline SVG and CSS: no scripts from anywhere, works offline.

use std::fmt::Write as _;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::charts;
use super::map::{AppMap, build};
use crate::host::Host;
use broker::rest::Problem;
use broker::store::{DeadLetter, Selection};

/// `/map`, `/map.json`, `/map/resubmit`, `/admin/telemetry`.
pub fn router() -> axum::Router<Host> {
    axum::Router::new()
        .route("/map", get(page))
        .route("/map.json", get(json))
        .route("/map/resubmit", post(resubmit))
        .route("/admin/telemetry", get(telemetry))
}

/// The map model for the running app.
pub async fn current(host: &Host) -> Result<AppMap, Response> {
    let stats = host
        .namespace
        .store()
        .stats(Vec::new())
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Queue store unavailable",
                e.to_string(),
            )
            .into_response()
        })?;
    let items = host.capture.snapshot();
    let mut map = build(&host.app, &items, stats, host.capture.dropped());
    map.charts = charts::build(
        &host.app,
        &items,
        &host.history.snapshot(),
        chrono::Utc::now(),
    );
    Ok(map)
}

async fn json(State(host): State<Host>) -> Response {
    match current(&host).await {
        Ok(map) => Json(map).into_response(),
        Err(r) => r,
    }
}

async fn telemetry(State(host): State<Host>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        host.capture.to_jsonl(),
    )
        .into_response()
}

async fn resubmit(State(host): State<Host>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.replace('+', " ")))
        })
        .collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(queue) = field("queue").filter(|q| {
        q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    }) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "Invalid resubmit",
            "a queue name is required",
        )
        .into_response();
    };
    let selection = match field("id") {
        Some(id) if id.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() => {
            Selection::Ids(vec![id])
        }
        Some(_) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "Invalid resubmit",
                "id must be a sequence number",
            )
            .into_response();
        }
        None => Selection::All,
    };
    match host.namespace.store().resubmit(&queue, selection).await {
        Ok(_) => Redirect::to("/map").into_response(),
        Err(e) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Resubmit failed",
            e.to_string(),
        )
        .into_response(),
    }
}

async fn page(State(host): State<Host>) -> Response {
    let map = match current(&host).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mut dead = Vec::new();
    for q in map.queues.iter().filter(|q| q.dead_lettered > 0) {
        if let Ok(items) = host.namespace.store().dead_letters(&q.name, 20).await {
            dead.extend(items.into_iter().map(|d| (q.name.clone(), d)));
        }
    }
    Html(render(&map, &dead)).into_response()
}

/// One row per tenant, one column per metric that carries a `tenantId` dimension.
fn tenant_table(map: &AppMap) -> String {
    let names: std::collections::BTreeSet<&str> = map
        .tenants
        .values()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    let mut html = String::from("<table class=\"tenants\"><tr><th>tenant</th>");
    for name in &names {
        let _ = write!(html, "<th>{}</th>", esc(name));
    }
    html.push_str("</tr>");
    for (tenant, totals) in &map.tenants {
        let _ = write!(html, "<tr data-tenant=\"{0}\"><td>{0}</td>", esc(tenant));
        for name in &names {
            let value = totals.get(*name).copied().unwrap_or(0.0);
            let _ = write!(html, "<td data-metric=\"{}\">{value}</td>", esc(name));
        }
        html.push_str("</tr>");
    }
    if map.tenants.is_empty() {
        html.push_str("<tr><td>no per-tenant metrics yet</td></tr>");
    }
    html.push_str("</table>");
    html
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"))
}

/// Render the page.
pub fn render(map: &AppMap, dead: &[(String, DeadLetter)]) -> String {
    // Main row: every node but dead-letter queues, left to right; each dead-letter queue sits
    // under its queue.
    let (w, h, top, below) = (1200.0_f64, 340.0_f64, 110.0_f64, 270.0_f64);
    let row: Vec<&str> = map
        .nodes
        .iter()
        .filter(|n| n.kind != "deadletter")
        .map(|n| n.id.as_str())
        .collect();
    let step = w / row.len().max(1) as f64;
    let pos = |id: &str| -> Option<(f64, f64)> {
        if let Some(i) = row.iter().position(|r| *r == id) {
            return Some((step * (i as f64 + 0.5), top));
        }
        let queue = id.strip_suffix("/$DeadLetterQueue")?;
        row.iter()
            .position(|r| *r == queue)
            .map(|i| (step * (i as f64 + 0.5), below))
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg viewBox="0 0 {w} {h}" role="img" aria-label="Application map"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7785"/></marker></defs>"##
    );
    for e in &map.edges {
        let (Some((x1, y1)), Some((x2, y2))) = (pos(&e.from), pos(&e.to)) else {
            continue;
        };
        let dead = e.to.ends_with("$DeadLetterQueue");
        let color = match (dead, e.calls > 0, e.failure_percent > 0.0) {
            (true, true, _) => "#c0392b",
            (true, false, _) => "#9aa5b1",
            (false, _, true) => "#d68910",
            (false, _, false) => "#2e86c1",
        };
        let (ax, ay, bx, by) = if dead {
            (x1, y1 + 32.0, x2, y2 - 32.0)
        } else {
            (x1 + 64.0, y1, x2 - 66.0, y2)
        };
        let _ = write!(
            svg,
            r#"<g class="edge" data-from="{}" data-to="{}"><line x1="{ax:.0}" y1="{ay:.0}" x2="{bx:.0}" y2="{by:.0}" stroke="{color}" stroke-width="3" marker-end="url(#arrow)"/>"#,
            esc(&e.from),
            esc(&e.to),
        );
        if dead {
            let _ = write!(
                svg,
                r#"<text x="{:.0}" y="{:.0}" class="edge-label" text-anchor="start">{} dead-lettered</text>"#,
                x1 + 14.0,
                (y1 + y2) / 2.0 + 4.0,
                e.calls
            );
        } else {
            let mid = (x1 + x2) / 2.0;
            let _ = write!(
                svg,
                r#"<text x="{mid:.0}" y="{:.0}" class="edge-label">{} calls</text><text x="{mid:.0}" y="{:.0}" class="edge-sub {}">{:.1}% failed</text>"#,
                top - 26.0,
                e.calls,
                top - 10.0,
                if e.failure_percent > 0.0 { "warn" } else { "" },
                e.failure_percent
            );
            if e.p50_ms.is_some() {
                let _ = write!(
                    svg,
                    r#"<text x="{mid:.0}" y="{:.0}" class="edge-sub">p50 {}</text><text x="{mid:.0}" y="{:.0}" class="edge-sub">p95 {}</text>"#,
                    top + 22.0,
                    ms(e.p50_ms),
                    top + 38.0,
                    ms(e.p95_ms)
                );
            }
        }
        svg.push_str("</g>");
    }
    for n in &map.nodes {
        let Some((cx, cy)) = pos(&n.id) else { continue };
        let fill = match n.kind {
            "client" => "#eaf2f8",
            "function" => "#e8f6f3",
            "queue" => "#fef9e7",
            _ => "#fdedec",
        };
        let _ = write!(svg, r#"<g class="node" data-id="{}">"#, esc(&n.id));
        match n.kind {
            "client" => {
                let _ = write!(
                    svg,
                    r##"<circle cx="{cx:.0}" cy="{cy:.0}" r="40" fill="{fill}" stroke="#34495e" stroke-width="2"/>"##
                );
            }
            "function" => {
                let _ = write!(
                    svg,
                    r##"<rect x="{:.0}" y="{:.0}" width="124" height="64" rx="12" fill="{fill}" stroke="#34495e" stroke-width="2"/>"##,
                    cx - 62.0,
                    cy - 32.0
                );
            }
            _ => {
                let _ = write!(
                    svg,
                    r##"<rect x="{:.0}" y="{:.0}" width="124" height="56" rx="4" fill="{fill}" stroke="#34495e" stroke-width="2" stroke-dasharray="6 3"/>"##,
                    cx - 62.0,
                    cy - 28.0
                );
            }
        }
        let _ = write!(
            svg,
            r#"<text x="{cx:.0}" y="{:.0}" class="node-label">{}</text></g>"#,
            cy + 5.0,
            esc(&n.label)
        );
    }
    svg.push_str("</svg>");

    let mut queues = String::new();
    for q in &map.queues {
        let _ = write!(
            queues,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&q.name),
            q.active,
            q.scheduled,
            q.locked,
            if q.dead_lettered > 0 { "bad" } else { "" },
            q.dead_lettered,
            q.completed,
            q.abandoned,
            q.enqueued
        );
    }
    let mut metrics = String::new();
    for (name, value) in &map.metrics {
        let _ = write!(metrics, "<tr><td>{}</td><td>{value}</td></tr>", esc(name));
    }
    if metrics.is_empty() {
        metrics.push_str("<tr><td colspan=\"2\">no custom metrics yet (the handler exports them periodically)</td></tr>");
    }
    let tenants = tenant_table(map);
    let mut letters = String::new();
    for (queue, d) in dead {
        let body: String = d.body.chars().take(90).collect::<String>()
            + if d.body.chars().count() > 90 {
                "…"
            } else {
                ""
            };
        let _ = write!(
            letters,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><form method=\"post\" action=\"/map/resubmit\"><input type=\"hidden\" name=\"queue\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\"><button>Resubmit</button></form></td></tr>",
            d.sequence_number,
            esc(&d.message_id),
            esc(&d.reason),
            d.delivery_count,
            esc(&d.enqueued_at.to_rfc3339()),
            esc(&body),
            esc(queue),
            d.sequence_number
        );
    }
    let mut resubmit_all = String::new();
    for q in map.queues.iter().filter(|q| q.dead_lettered > 0) {
        let _ = write!(
            resubmit_all,
            "<form method=\"post\" action=\"/map/resubmit\"><input type=\"hidden\" name=\"queue\" value=\"{0}\"><button>Resubmit all {1} from {0}</button></form>",
            esc(&q.name),
            q.dead_lettered
        );
    }
    if letters.is_empty() {
        letters.push_str("<tr><td colspan=\"7\">no dead letters</td></tr>");
    }
    format!(
        r##"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Application map · devhost</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px 32px;color:#1c2833;background:#fbfcfc}}
h1{{font-size:20px;margin:0 0 4px}} h2{{font-size:15px;margin:28px 0 8px;color:#34495e}}
.sub{{color:#5d6d7e;margin-bottom:12px}} svg{{width:100%;max-width:1200px;background:#fff;border:1px solid #d5dbdb;border-radius:8px}}
.node-label{{font-size:13px;font-weight:600;text-anchor:middle;fill:#1c2833}} .edge-label{{font-size:13px;text-anchor:middle;fill:#1c2833}}
.edge-sub{{font-size:12px;text-anchor:middle;fill:#5d6d7e}} .edge-sub.warn{{fill:#b9770e;font-weight:600}}
table{{border-collapse:collapse;background:#fff;min-width:560px;max-width:1200px}} td code{{word-break:break-all}} td,th{{border:1px solid #d5dbdb;padding:4px 10px;text-align:left}}
.charts{{display:flex;flex-wrap:wrap;gap:12px;max-width:1200px}} svg.chart{{width:360px;max-width:100%}} .chart-title{{font-size:12px;font-weight:600;fill:#34495e}} .axis{{font-size:10px;fill:#5d6d7e}} .legend{{font-size:11px}}
th{{background:#f2f4f4}} td.bad{{color:#c0392b;font-weight:700}} code{{font-size:12px}} button{{cursor:pointer}}
</style></head><body>
<h1>Application map</h1>
<div class="sub">devhost · {} envelopes captured ({} dropped) · {} operations · refreshes every 5 s · <a href="/map.json">JSON</a> · <a href="/admin/telemetry">telemetry (JSON lines)</a></div>
{svg}
<h2>Last 15 minutes</h2>
<div class="charts">{charts}</div>
<h2>Queues</h2>
<table><tr><th>queue</th><th>active</th><th>scheduled</th><th>locked</th><th>dead-lettered</th><th>completed</th><th>abandoned</th><th>enqueued</th></tr>{queues}</table>
<h2>Custom metrics (handler)</h2>
<table><tr><th>metric</th><th>total</th></tr>{metrics}</table>
<h2>Per tenant (metrics with a <code>tenantId</code> dimension)</h2>
<p>The handler's per-job audit counters count jobs, not messages: a job is received once, however often it was redelivered or rescheduled. Exact figures per tenant and job type: <code>jobctl --devhost URL audit</code>.</p>
{tenants}
<h2>Dead letters</h2>
{resubmit_all}
<table><tr><th>#</th><th>message id</th><th>reason</th><th>deliveries</th><th>enqueued</th><th>body</th><th></th></tr>{letters}</table>
</body></html>"##,
        map.captured,
        map.dropped,
        map.operations,
        charts = map.charts.iter().map(charts::svg).collect::<String>(),
    )
}
