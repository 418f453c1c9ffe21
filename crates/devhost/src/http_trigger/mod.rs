//! HTTP triggers: `/{routePrefix}/{route}` for every `httpTrigger` function, as the host serves it.
//!
//! A request whose method is not in the binding's `methods` does not match the route, so it gets
//! 404 like any unknown route. A successful invocation's `serviceBus` outputs are sent (durably)
//! before the client gets `Outputs.res`, so a 202 means the message is on disk. A failed invocation
//! is a 500 to the client.

pub mod auth;
mod identities;
mod invocation;
mod response;
pub mod route;
pub mod throttle;

pub use invocation::{IncomingHttp, http_invocation};

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::{error, warn};

use broker::rest::Problem;

use crate::config::{AuthLevel, Function};
use crate::host::Host;
use crate::outputs;
use crate::telemetry::Operation;

/// Serve one request under the route prefix, after the host's request queue
/// (`extensions.http` throttles) and with its `customHeaders`.
pub async fn serve(
    State(host): State<Host>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let _place = match host.throttle.enter().await {
        Ok(place) => place,
        Err(rejected) => return rejected,
    };
    let mut response = serve_queued(&host, peer, method, uri, headers, body).await;
    // H `Middleware/CustomHttpHeadersMiddleware`: `TryAdd`, so the function's own value wins.
    for (name, value) in &host.app.http.custom_headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) && !response.headers().contains_key(&name)
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn serve_queued(
    host: &Host,
    peer: std::net::SocketAddr,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let path = uri.path();
    let Some(route) = strip_route_prefix(path, &host.app.route_prefix) else {
        return not_found(path);
    };
    let Some((function, binding, params)) = find(&host.app.functions, route, &method) else {
        return not_found(path);
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_failed(host, &rejection),
    };
    if *host.shutting_down.borrow() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Host is shutting down",
            "the devhost is stopping and takes no new invocations",
        )
        .into_response();
    }

    let level = function.auth_level().unwrap_or(AuthLevel::Function);
    // The identities and whether they carry the Admin level.
    let (identities, admin) = if !identities::authenticated(level, &headers, uri.query()) {
        (identities::anonymous(), false)
    } else if let Some(keys) = &host.keys {
        match keys.authorize(&function.name, level, &headers, uri.query()) {
            Ok(Some((level, name))) => (identities::key(level, &name), level == AuthLevel::Admin),
            Ok(None) => (identities::anonymous(), false),
            // `AuthenticationLevelHandler` + the host's authorization policy: 401 (the host's
            // body is empty; the devhost says why, as for its other errors).
            Err(why) => {
                return Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", why).into_response();
            }
        }
    } else {
        (identities::func_start_admin(), true)
    };
    // `FunctionInvocationMiddleware.GetResultAsync`: a disabled function is 404 but to Admin.
    if function.disabled && !admin {
        return not_found(path);
    }
    let started = std::time::Instant::now();
    // The request row continues the client's W3C trace context (ASP.NET Core's request activity).
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let op = Operation::continue_from(header("traceparent")).with_trace_state(header("tracestate"));
    let headers = forwarded_for(headers, peer);
    if host.app.forward_http && function.is_http_in_and_out() {
        let response = forward(host, &op, &method, &uri, &headers, &body).await;
        let status = response.status().as_u16();
        host.capture
            .host_request(&function.name, &op, started.elapsed(), status, status < 500);
        return response;
    }
    let request = Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
        identities,
    };
    let response = invoke_http(host, function, binding, params, &op, &request).await;
    let status = response.status().as_u16();
    host.capture
        .host_request(&function.name, &op, started.elapsed(), status, status < 500);
    response
}

/// One client request, as the invocation needs it.
struct Request<'a> {
    method: &'a Method,
    uri: &'a axum::http::Uri,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    /// `Data.<req>.Identities`.
    identities: serde_json::Value,
}

/// Invoke an HTTP-triggered function for one request and turn its outputs into the response.
async fn invoke_http(
    host: &Host,
    function: &Function,
    binding: &str,
    params: route::RouteValues,
    op: &Operation,
    request: &Request<'_>,
) -> Response {
    let Request {
        method,
        uri,
        headers,
        body,
        ..
    } = *request;
    let mut header_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        header_map
            .entry(canonical(name))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let pairs: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    // `Query` (`GetQueryCollectionAsDictionary`): a repeated key's values joined with `,`
    // (`StringValues.ToString`); the binding data takes the last value.
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    let mut query_last: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        query
            .entry(k.clone())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&v);
            })
            .or_insert_with(|| v.clone());
        query_last.insert(k, v);
    }
    // `Body` only when `Content-Length > 0` (`GetRequestAsJObject`): a chunked body is not sent.
    let has_length = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    // `Url`: scheme, the request's `Host` header, path and query.
    let authority = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| host.base_url.clone(), |h| format!("http://{h}"));
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let incoming = IncomingHttp {
        url: format!("{authority}{path_and_query}"),
        method: method.as_str().to_owned(),
        query,
        query_last,
        headers: header_map,
        body: if has_length {
            body.to_vec()
        } else {
            Vec::new()
        },
        params,
        identities: request.identities.clone(),
    };
    let request = http_invocation(&function.name, binding, &incoming);
    let mut invoked = match host.invoker.invoke(&function.name, &request, op).await {
        Ok(r) => r,
        Err(e) => {
            warn!(function = %function.name, "invocation failed: {e}");
            return internal_error("Function invocation failed", e.to_string());
        }
    };
    invoked
        .reply
        .bind_return_value(function.has_return_binding());
    if let Err(e) = outputs::route(
        function,
        &invoked,
        op,
        host.namespace.store(),
        &host.capture,
    )
    .await
    {
        error!(function = %function.name, "output binding failed: {e}");
        return internal_error("Output binding failed", e.to_string());
    }
    match response::http_response(function.http_output(), &invoked.reply) {
        Ok(response) => response,
        Err(e) => {
            warn!(function = %function.name, "the http output is not a response: {e}");
            internal_error("Malformed `res` output", e)
        }
    }
}

/// `enableForwardingHttpRequest`: the raw request to the handler, its raw answer to the client.
async fn forward(
    host: &Host,
    op: &Operation,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let has_length = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    let body = if has_length {
        body.to_vec()
    } else {
        Vec::new()
    };
    let Ok(method) = reqwest::Method::from_bytes(method.as_str().as_bytes()) else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = match host
        .invoker
        .forward(method, path_and_query, headers, body, op)
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            warn!("forwarded request failed: {e}");
            return internal_error("Function invocation failed", e.to_string());
        }
    };
    let mut builder = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != reqwest::header::TRANSFER_ENCODING && name != reqwest::header::CONNECTION {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    builder
        .body(axum::body::Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Append the peer's `ip:port` to `X-Forwarded-For`, as the App Service host end does before
/// the host sees a request: the last entry is the one a handler can trust.
fn forwarded_for(mut headers: HeaderMap, peer: std::net::SocketAddr) -> HeaderMap {
    let name = HeaderName::from_static("x-forwarded-for");
    let joined = headers
        .get_all(&name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let value = if joined.is_empty() {
        peer.to_string()
    } else {
        format!("{joined}, {peer}")
    };
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
    headers
}

/// The route under `/{prefix}/`, the prefix compared ignoring case as ASP.NET routing does; with
/// an empty prefix every route sits at the root (`EXT Routing/WebJobsRouteBuilder.
/// BuildRouteTemplate`: the route alone), so `//Name` matches nothing.
fn strip_route_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix('/')?;
    if prefix.is_empty() {
        return Some(rest.trim_end_matches('/'));
    }
    let head = rest.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    rest[prefix.len()..]
        .strip_prefix('/')
        .map(|r| r.trim_end_matches('/'))
}

/// The first HTTP-triggered function (in the host's order: names ignoring case) whose route
/// template matches and whose `methods` allow `method`, with the route values.
fn find<'a>(
    functions: &'a [Function],
    route: &str,
    method: &Method,
) -> Option<(&'a Function, &'a str, route::RouteValues)> {
    functions.iter().find_map(|f| {
        let (binding, methods, custom) = f.http_trigger()?;
        let template = route::Template::parse(custom.unwrap_or(&f.name)).ok()?;
        let values = template.matches(route)?;
        let allowed = methods.is_empty() || methods.iter().any(|m| m == method.as_str());
        allowed.then_some((f, binding, values))
    })
}

/// Kestrel's `MaxRequestBodySize` as the host sets it (`H WebJobs.Script.WebHost/Program.
/// CreateWebHostBuilder`: 100 MiB), overridden by the app setting
/// `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT` (`Middleware/HttpRequestBodySizeMiddleware`).
pub fn body_limit(settings: &BTreeMap<String, String>) -> usize {
    settings
        .get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(104_857_600)
}

/// A body that could not be read. Over the limit, Kestrel's read throws `BadHttpRequestException`
/// (413) while the host binds `req`, so the invocation fails and `ExceptionMiddleware` answers
/// **500** (Azure/azure-functions-host#10519: "Exception binding parameter 'req' ... Request body
/// too large"), and Kestrel closes the connection (`DisableKeepAlive`). The body rate's cut is
/// answered by the server itself (`http_server::body_rate`).
fn body_failed(host: &Host, rejection: &axum::extract::rejection::BytesRejection) -> Response {
    let detail = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "Exception binding parameter 'req': Request body too large. The max request body size is {} bytes.",
            body_limit(&host.app.settings)
        )
    } else {
        format!("Exception binding parameter 'req': {rejection}")
    };
    let mut response = internal_error("Function invocation failed", detail);
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}

/// A 500 problem response titled `title` (the devhost's own failures around an invocation).
fn internal_error(title: &'static str, detail: impl Into<String>) -> Response {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, title, detail).into_response()
}

fn not_found(path: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Not found",
        format!("no function serves {path}"),
    )
    .into_response()
}

/// `content-type` -> `Content-Type`, as the host presents header names.
fn canonical(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Percent-decoding for query strings (`+` is a space).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_appended_to_forwarded_for() {
        let peer: std::net::SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let h = forwarded_for(HeaderMap::new(), peer);
        assert_eq!(h["x-forwarded-for"], "192.0.2.1:5000");
        let mut given = HeaderMap::new();
        given.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        let h = forwarded_for(given, peer);
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 192.0.2.1:5000");
    }

    #[test]
    fn route_prefix_ignores_case_and_may_be_empty() {
        assert_eq!(strip_route_prefix("/API/Echo", "api"), Some("Echo"));
        assert_eq!(strip_route_prefix("/apix/Echo", "api"), None);
        assert_eq!(strip_route_prefix("/Echo/", ""), Some("Echo"));
        assert_eq!(strip_route_prefix("//Echo", ""), Some("/Echo"));
    }

    #[test]
    fn query_decoding_and_header_names() {
        assert_eq!(decode("a%20b+c%2"), "a b c%2");
        assert_eq!(decode("%C3%A9%zz"), "é%zz");
        assert_eq!(
            canonical(&HeaderName::from_static("x-correlation-id")),
            "X-Correlation-Id"
        );
    }
}
