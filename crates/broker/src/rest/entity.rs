//! Entity runtime information, `GET /servicebus/{queue}?api-version=2021-05`, answered like the
//! real namespace endpoint (`https://{namespace}.servicebus.windows.net/{queue}`): an Atom entry
//! whose `QueueDescription` holds `CountDetails`, or an empty Atom feed for an entity that does
//! not exist.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{PREFIX, Problem, Rest};
use crate::store::QueueStats;

/// `GET /servicebus/{queue}`.
pub(super) fn routes() -> axum::Router<Rest> {
    axum::Router::new().route("/servicebus/{queue}", get(entity))
}

async fn entity(State(rest): State<Rest>, Path(queue): Path<String>) -> Response {
    let stats = match rest.namespace.stats().await {
        Ok(s) => s,
        Err(e) => return Problem::from(&e).into_response(),
    };
    let base = format!("{}{PREFIX}", rest.base_url);
    let body = match stats.iter().find(|s| s.name == queue) {
        Some(s) => entry(&base, s),
        None => empty_feed(&base),
    };
    let kind = if body.starts_with("<entry") {
        "application/atom+xml;type=entry;charset=utf-8"
    } else {
        "application/atom+xml;type=feed;charset=utf-8"
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// The Atom entry of a queue. `ActiveMessageCount` counts locked messages too, as Service Bus
/// does: a peek-locked message stays in the queue until it is settled.
pub(super) fn entry(base: &str, s: &QueueStats) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let active = s.active + s.locked;
    let name = xml_escape(&s.name);
    format!(
        concat!(
            r#"<entry xmlns="http://www.w3.org/2005/Atom"><id>{base}/{name}?api-version=2021-05</id>"#,
            r#"<title type="text">{name}</title><updated>{now}</updated><link rel="self" href="{base}/{name}?api-version=2021-05"/>"#,
            r#"<content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">"#,
            r#"<MessageCount>{total}</MessageCount><Status>Active</Status>"#,
            r#"<CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus">"#,
            r#"<d2p1:ActiveMessageCount>{active}</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>{dead}</d2p1:DeadLetterMessageCount>"#,
            r#"<d2p1:ScheduledMessageCount>{scheduled}</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>"#,
            r#"<d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount></CountDetails>"#,
            r#"</QueueDescription></content></entry>"#
        ),
        base = xml_escape(base),
        name = name,
        now = now,
        total = active + s.dead_lettered + s.scheduled,
        active = active,
        dead = s.dead_lettered,
        scheduled = s.scheduled,
    )
}

/// What Service Bus answers for an entity that does not exist.
pub(super) fn empty_feed(base: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Publicly Listed Services</title><id>uuid:{}</id><updated>{now}</updated><link rel="self" href="{}"/></feed>"#,
        uuid::Uuid::new_v4(),
        xml_escape(base)
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
