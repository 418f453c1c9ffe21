//! The entity API's routes, as Service Bus answers them (Microsoft's "Service Bus REST API:
//! Create / Get / Update / Delete Queue, List Queues" pages and the recorded answers in
//! azure-sdk-for-python's `tests/mgmt_tests/recordings/test_mgmt_queues.*.yaml`):
//!
//! * `PUT /{queue}`: create (`201`, the entry), or with `If-Match: *` update (`200`); `409` when
//!   a create names a queue that exists; `400` for a body that is not a `QueueDescription`
//!   entry or a property out of range or not implemented (named).
//! * `GET /{queue}`: `200` with the entry, or `200` with an empty feed when there is no such
//!   queue (both SDKs turn that into their not-found error).
//! * `DELETE /{queue}`: `200` with no body, or `404`.
//! * `GET /$Resources/queues?$skip=&$top=`: a feed with a `next` link while more remain.
//! * `GET /$namespaceinfo`: the namespace's properties.
//!
//! Every request needs a `SharedAccessSignature` signed with the namespace's key (`401`
//! otherwise). Queues the devhost declares (`--queue`, function bindings, `--sb-config`) are
//! served as configured: the API shows them but refuses to update or delete them (`409`).

use std::collections::HashMap;

use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use percent_encoding::percent_decode_str;

use super::Admin;
use super::atom::{self, EntryMeta};
use super::properties::{self, service_bus_defaults};
use super::xsd;
use crate::amqp::sas;
use crate::store::{EntityChange, EntityDescription, EntityRuntime, StoreError};

const ENTRY: &str = "application/atom+xml;type=entry;charset=utf-8";
const FEED: &str = "application/atom+xml;type=feed;charset=utf-8";
/// Largest request body read (a `QueueDescription` is well under 10 KB).
const MAX_BODY: usize = 256 * 1024;

/// The router: every path goes to [`dispatch`].
pub fn router(admin: Admin) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(admin)
}

fn xml(status: StatusCode, kind: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, kind)], body).into_response()
}

fn error(status: StatusCode, detail: impl AsRef<str>) -> Response {
    let body = atom::error(status.as_u16(), detail.as_ref());
    xml(status, "application/xml; charset=utf-8", body)
}

fn store_failed(e: &StoreError) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("The queue store cannot serve: {e}"),
    )
}

/// The request as the handlers need it.
struct Call {
    base: String,
    query: String,
    params: HashMap<String, String>,
}

async fn dispatch(State(admin): State<Admin>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let base = format!("https://{host}");
    let path = percent_decode_str(parts.uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let path = path.trim_start_matches('/').to_owned();
    if let Err(denied) = authorize(&admin, &parts.headers, &base, &path) {
        return denied;
    }
    let params = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let query = params
        .get("api-version")
        .map(|v| format!("?api-version={v}"))
        .unwrap_or_default();
    let call = Call {
        base,
        query,
        params,
    };
    let lower = path.to_ascii_lowercase();
    match (&parts.method, lower.as_str()) {
        (&Method::GET, "$resources/queues") => list(&admin, &call).await,
        (&Method::GET, "$namespaceinfo") => namespace_info(&admin, &call),
        (_, p) if p.starts_with('$') || p.contains("/subscriptions") => error(
            StatusCode::BAD_REQUEST,
            format!(
                "SubCode=40000. Bad Request. '{path}': only queues are implemented by the local Service Bus (no topics, subscriptions or rules)."
            ),
        ),
        (_, _) if !valid_name(&path) => error(
            StatusCode::BAD_REQUEST,
            format!(
                "SubCode=40000. Bad Request. '{path}' is not a valid queue name: 1 to 260 letters, digits, '.', '-', '_' or '/', starting and ending with a letter or digit."
            ),
        ),
        (&Method::GET, _) => get(&admin, &call, &path).await,
        (&Method::PUT, _) => {
            let update = parts.headers.contains_key(header::IF_MATCH);
            put(&admin, &call, &path, body, update).await
        }
        (&Method::DELETE, _) => delete(&admin, &path).await,
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed here.",
        ),
    }
}

/// Checked as Service Bus checks the `Authorization` header of an entity request: a SAS token
/// signed with a rule of the namespace that has `Manage`, whose resource covers the path (the Python SDK signs the
/// namespace URL, the JavaScript SDK each request URL, query included).
fn authorize(admin: &Admin, headers: &HeaderMap, base: &str, path: &str) -> Result<(), Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "MissingToken: The request has no Authorization header with a SharedAccessSignature."))?;
    let grant = sas::verify(&admin.keys, token, &format!("{base}/{path}"), Utc::now())
        .map_err(|e| error(StatusCode::UNAUTHORIZED, e.to_string()))?;
    // Entity administration needs the rule's Manage right (Microsoft docs, "Service Bus
    // authentication and authorization with SAS", rights required for operations).
    if !grant.rights.allow(sas::Claim::Manage) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            format!(
                "Unauthorized access. 'Manage' claim(s) are required to perform this operation. Resource: '{base}/{path}'."
            ),
        ));
    }
    Ok(())
}

/// A queue name as Service Bus allows it.
fn valid_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/');
    (1..=260).contains(&name.len())
        && name.chars().all(ok_char)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A queue's description: its entity, or (declared and configured queues) its options with
/// Service Bus's defaults for the rest, created when the broker started.
fn description(admin: &Admin, name: &str) -> EntityDescription {
    let store = admin.namespace.store();
    let mut e = store.entity(name).unwrap_or_else(|| {
        let mut e = EntityDescription::with_options(store.options(name));
        (e.created_at, e.updated_at) = (admin.started, admin.started);
        e
    });
    // What the queue runs with (a configured queue's options win over a stored entity's).
    e.options = store.options(name);
    e
}

fn render(
    admin: &Admin,
    call: &Call,
    name: &str,
    e: &EntityDescription,
    rt: &EntityRuntime,
) -> String {
    let meta = EntryMeta {
        base: &call.base,
        name,
        query: &call.query,
        published: &xsd::time(e.created_at),
        updated: &xsd::time(e.updated_at),
        author: &admin.name,
    };
    atom::entry(&meta, &properties::describe(e, rt))
}

async fn runtime_of(admin: &Admin, name: &str) -> Result<EntityRuntime, StoreError> {
    let mut rt = admin
        .namespace
        .store()
        .runtime(vec![name.to_owned()])
        .await?;
    Ok(rt.pop().unwrap_or_default())
}

async fn get(admin: &Admin, call: &Call, name: &str) -> Response {
    match admin.namespace.exists(name).await {
        Ok(true) => {}
        Ok(false) => {
            return xml(
                StatusCode::OK,
                FEED,
                atom::no_entity(&xsd::time(Utc::now())),
            );
        }
        Err(e) => return store_failed(&e),
    }
    match runtime_of(admin, name).await {
        Ok(rt) => xml(
            StatusCode::OK,
            ENTRY,
            render(admin, call, name, &description(admin, name), &rt),
        ),
        Err(e) => store_failed(&e),
    }
}

async fn put(admin: &Admin, call: &Call, name: &str, body: Body, update: bool) -> Response {
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return error(
            StatusCode::BAD_REQUEST,
            "SubCode=40000. Bad Request. The request body could not be read (at most 256 KB).",
        );
    };
    let text = String::from_utf8_lossy(&bytes);
    let fields = match atom::parse_queue_description(&text) {
        Ok(f) => f,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("SubCode=40000. Bad Request. {e}"),
            );
        }
    };
    let store = admin.namespace.store();
    if admin.namespace.is_declared(name) {
        let what = if update { "updated" } else { "created" };
        return error(
            StatusCode::CONFLICT,
            format!(
                "SubCode=40900. Conflict. Queue '{name}' exists and is declared by the devhost's configuration (--queue, a function binding or --sb-config): it cannot be {what} through the administration API; change it there."
            ),
        );
    }
    let base = match (update, store.entity(name)) {
        (false, _) => service_bus_defaults(),
        (true, Some(e)) => e,
        (true, None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "Queue '{name}' does not exist (or was not created through the administration API)."
                ),
            );
        }
    };
    let entity = match properties::apply(&base, &fields, update) {
        Ok(e) => e,
        Err(refused) => return error(StatusCode::BAD_REQUEST, refused.to_string()),
    };
    if !update {
        match admin.namespace.exists(name).await {
            Ok(false) => {}
            Ok(true) => return conflict(name),
            Err(e) => return store_failed(&e),
        }
    }
    let changed = if update {
        store.update_entity(name, entity).await
    } else {
        store.create_entity(name, entity).await
    };
    let entity = match changed {
        Ok(EntityChange::Done(e)) => e,
        Ok(EntityChange::Exists) => return conflict(name),
        Ok(EntityChange::Missing) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("Queue '{name}' does not exist."),
            );
        }
        Err(e) => return store_failed(&e),
    };
    tracing::info!(
        queue = name,
        update,
        "queue {} through the administration API",
        if update { "updated" } else { "created" }
    );
    match runtime_of(admin, name).await {
        Ok(rt) => {
            let status = if update {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            xml(status, ENTRY, render(admin, call, name, &entity, &rt))
        }
        Err(e) => store_failed(&e),
    }
}

fn conflict(name: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        format!(
            "SubCode=40900. Conflict. Queue '{name}' already exists. You're requesting an operation that isn't allowed in the resource's current state."
        ),
    )
}

async fn delete(admin: &Admin, name: &str) -> Response {
    if admin.namespace.is_declared(name) {
        return error(
            StatusCode::CONFLICT,
            format!(
                "SubCode=40900. Conflict. Queue '{name}' is declared by the devhost's configuration (--queue, a function binding or --sb-config) and served while it runs: it cannot be deleted; remove it there."
            ),
        );
    }
    match admin.namespace.store().delete_queue(name).await {
        Ok(true) => {
            tracing::info!(
                queue = name,
                "queue deleted through the administration API, with its messages"
            );
            StatusCode::OK.into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "No service is hosted at the specified address.",
        ),
        Err(e) => store_failed(&e),
    }
}

async fn list(admin: &Admin, call: &Call) -> Response {
    let number = |key: &str, default: usize| -> Result<usize, Response> {
        call.params.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("SubCode=40000. Bad Request. {key} must be a whole number, not '{v}'."),
                )
            })
        })
    };
    let (skip, top) = match (number("$skip", 0), number("$top", 100)) {
        (Ok(s), Ok(t)) => (s, t.clamp(1, 100)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let names = match admin.namespace.queues().await {
        Ok(n) => n,
        Err(e) => return store_failed(&e),
    };
    let page: Vec<String> = names.iter().skip(skip).take(top).cloned().collect();
    let runtimes = match admin.namespace.store().runtime(page.clone()).await {
        Ok(r) => r,
        Err(e) => return store_failed(&e),
    };
    let entries: Vec<String> = page
        .iter()
        .zip(&runtimes)
        .map(|(name, rt)| render(admin, call, name, &description(admin, name), rt))
        .collect();
    let version = call
        .params
        .get("api-version")
        .map(|v| format!("&api-version={v}"))
        .unwrap_or_default();
    let url = |skip: usize| {
        format!(
            "{}/$Resources/queues?$skip={skip}&$top={top}{version}",
            call.base
        )
    };
    let next = (skip + page.len() < names.len()).then(|| url(skip + page.len()));
    let now = xsd::time(Utc::now());
    xml(
        StatusCode::OK,
        FEED,
        atom::feed("Queues", &url(skip), next.as_deref(), &now, &entries),
    )
}

fn namespace_info(admin: &Admin, call: &Call) -> Response {
    let started = xsd::time(admin.started);
    let mut info = String::new();
    atom::element(&mut info, "CreatedTime", &started);
    atom::element(&mut info, "MessagingSKU", "Standard");
    atom::element(&mut info, "ModifiedTime", &started);
    atom::element(&mut info, "Name", &admin.name);
    atom::element(&mut info, "NamespaceType", "Messaging");
    let url = format!("{}/$namespaceinfo{}", call.base, call.query);
    let body = format!(
        concat!(
            r#"<entry xmlns="{atom}"><id>{url}</id><title type="text">{name}</title><updated>{now}</updated>"#,
            r#"<author><name>{name}</name></author><link rel="self" href="{url}"/><content type="application/xml">"#,
            r#"<NamespaceInfo xmlns="{connect}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">{info}</NamespaceInfo></content></entry>"#
        ),
        atom = atom::ATOM,
        connect = atom::CONNECT,
        url = quick_xml::escape::escape(url.as_str()),
        name = quick_xml::escape::escape(admin.name.as_str()),
        now = xsd::time(Utc::now()),
        info = info,
    );
    xml(StatusCode::OK, ENTRY, body)
}
