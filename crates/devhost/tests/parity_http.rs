//! docs/PARITY.md, "HTTP front" rows: the request data the host builds and its body limit. The
//! real devhost binary hosting `tests/fixtures/pyhandler`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};

use common::{Devhost, Method, free_port, pyhandler_root};
use serde_json::{Value, json};

/// A raw HTTP/1.1 exchange (for what reqwest will not send: a chunked body), `Connection: close`.
fn raw(url: &str, request: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[tokio::test]
async fn http_request_data_is_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "1000")]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let echo = d
        .post_json(
            "/api/Echo?a=1&a=2",
            &[("host", "example.test:1234")],
            &json!({"k": 1}),
        )
        .await;
    let req = &echo["data"]["req"];
    assert_eq!(req["Query"]["a"], "1,2", "repeated keys joined");
    assert_eq!(
        echo["metadata"]["a"], "\"2\"",
        "binding data: the last value"
    );
    assert_eq!(req["Url"], "http://example.test:1234/api/Echo?a=1&a=2");
    assert_eq!(req["Body"], r#"{"k":1}"#);

    // A chunked body has no Content-Length: the host sends no `Body` (nor its fields).
    let (status, body) = tokio::task::spawn_blocking({
        let url = d.url.clone();
        move || {
            raw(
                &url,
                "POST /api/Echo HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\n{\"k\":1}\r\n0\r\n\r\n",
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(body.trim()).unwrap();
    assert!(echo["data"]["req"].get("Body").is_none(), "{echo}");
    assert!(echo["metadata"].get("k").is_none());

    // FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (default 100 MiB): over it, the host fails binding `req`
    // (500) before the handler, and closes the connection.
    let over = d.post("/api/Echo", None, "x".repeat(1001)).await;
    assert_eq!(over.status().as_u16(), 500);
    assert_eq!(over.headers()["connection"], "close");
    let problem: Value = over.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Request body too large. The max request body size is 1000 bytes."),
        "{problem}"
    );
    let at = d.post("/api/Echo", None, "x".repeat(1000)).await;
    assert_eq!(at.status().as_u16(), 200);
}

#[tokio::test]
async fn forwarding_sends_the_raw_request_for_http_only_functions() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    std::fs::copy(
        root.join("variants/host.forwarding.json"),
        root.join("host.json"),
    )
    .unwrap();
    common::add_pyhandler_variant(&root, "Forwarded");
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let res = d.request(Method::POST, "/api/fwd/x?a=1");
    let res = res.header("x-pyh-status", "418").body("raw body").send();
    let res = res.await.unwrap();
    assert_eq!(res.status().as_u16(), 418, "any status, returned as it is");
    assert_eq!(res.headers()["x-pyh-forwarded"], "1");
    let echo: Value = res.json().await.unwrap();
    assert_eq!(
        echo["path"], "/api/fwd/x",
        "the original path, route prefix included"
    );
    assert_eq!(echo["query"], "a=1");
    assert_eq!(echo["body"], "raw body");
    let headers = echo["headers"].to_string().to_ascii_lowercase();
    assert!(
        headers.contains("x-azure-functions-invocationid"),
        "{headers}"
    );
    // .NET's HttpClient adds a `traceparent` when the client sent none, and keeps the client's.
    assert!(headers.contains("\"traceparent\",\"00-"), "{headers}");
    let client_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced: Value = d
        .client
        .get(format!("{}/api/fwd/y", d.url))
        .header("traceparent", client_trace)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent: Vec<&Value> = traced["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|kv| kv[0].as_str().unwrap().eq_ignore_ascii_case("traceparent"))
        .collect();
    assert_eq!(sent.len(), 1, "{traced}");
    assert_eq!(sent[0][1], client_trace);
    // A function with another output binding still gets an invocation request.
    let sent = d
        .post("/api/Send", Some("application/json"), r#"{"out": 1}"#)
        .await;
    assert_eq!(sent.status().as_u16(), 202);
    assert!(sent.headers().get("x-pyh-forwarded").is_none());
}

/// `GET {url}/api/{path}` with an optional `x-functions-key`; the status.
async fn status_with_key(d: &Devhost, path: &str, header_key: Option<&str>) -> u16 {
    let mut req = d.client.get(format!("{}/api/{path}", d.url));
    if let Some(k) = header_key {
        req = req.header("x-functions-key", k);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn keys_are_enforced_only_with_enable_auth_as_under_func_start() {
    // Without the flag (`func start` without --enableAuth): a function-level function is open.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    std::fs::create_dir_all(root.join("Admin")).unwrap();
    std::fs::write(
        root.join("Admin/function.json"),
        json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "Admin"},
            {"type": "http", "direction": "out", "name": "res"}]})
        .to_string(),
    )
    .unwrap();
    let data = dir.path().join("data");
    let d = Devhost::start_with(&root, &data, free_port(), &[]).await;
    assert_eq!(status_with_key(&d, "Keyed", None).await, 200);
    assert_eq!(status_with_key(&d, "Admin", None).await, 200);
    drop(d);

    // The function's own key, in the host's file format, next to the generated host keys.
    std::fs::create_dir_all(data.join("secrets")).unwrap();
    std::fs::write(
        data.join("secrets/keyed.json"),
        r#"{"keys": [{"name": "own", "value": "keyed-own-key", "encrypted": false}]}"#,
    )
    .unwrap();
    let d = Devhost::start_with(&root, &data, free_port(), &["--enable-auth"]).await;
    let (secrets, master, default) = host_keys(&data);
    let (master, default) = (master.as_str(), default.as_str());
    assert_eq!(secrets["functionKeys"][0]["name"], "default");

    // `authLevel` missing = `function`.
    let res = d.call(Method::GET, "/api/Keyed").await;
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(status_with_key(&d, "Keyed", Some(default)).await, 200);
    assert_eq!(status_with_key(&d, "Keyed", Some(master)).await, 200);
    assert_eq!(
        status_with_key(&d, "Keyed", Some("keyed-own-key")).await,
        200
    );
    assert_eq!(status_with_key(&d, "Keyed", Some("nope")).await, 401);
    assert_eq!(
        status_with_key(&d, &format!("Keyed?code={default}"), None).await,
        200
    );
    // The header wins over `code`.
    assert_eq!(
        status_with_key(&d, &format!("Keyed?code={default}"), Some("nope")).await,
        401
    );
    // `admin` needs the master key; a function's own key is for that function only.
    assert_eq!(status_with_key(&d, "Admin", Some(default)).await, 401);
    assert_eq!(
        status_with_key(&d, "Admin", Some("keyed-own-key")).await,
        401
    );
    assert_eq!(status_with_key(&d, "Admin", Some(master)).await, 200);
    // `anonymous` needs nothing; `code` is never bound into Metadata.
    let echo = d.get_json(&format!("/api/Echo?code={default}")).await;
    assert!(echo["metadata"].get("code").is_none(), "{echo}");
    drop(d);

    // A second start keeps the keys.
    let _d = Devhost::start_with(&root, &data, free_port(), &["--enable-auth"]).await;
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("secrets/host.json")).unwrap())
            .unwrap();
    assert_eq!(again["masterKey"]["value"], master);
}

#[tokio::test]
async fn kestrel_limits_apply_to_the_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
    };
    // `MaxRequestLineSize` 8 KiB: 414.
    let long = format!("/api/Echo?q={}", "a".repeat(8_200));
    assert_eq!(raw(&d.url, &get(&long, "")).0, 414);
    let fits = format!("/api/Echo?q={}", "a".repeat(7_000));
    assert_eq!(raw(&d.url, &get(&fits, "")).0, 200);
    // `MaxRequestHeadersTotalSize` 32 KiB and `MaxRequestHeaderCount` 100: 431.
    let big = format!("X-Big: {}\r\n", "b".repeat(33 * 1024));
    assert_eq!(raw(&d.url, &get("/api/Echo", &big)).0, 431);
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw(&d.url, &get("/api/Echo", &many)).0, 431);
    let some: String = (0..90).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw(&d.url, &get("/api/Echo", &some)).0, 200);

    // The timeouts and the body data rate: `parity_server_limits`.
}

/// `Data.req.Identities` of one `GET /api/{path}` (with an optional `x-functions-key`).
async fn identities(d: &Devhost, path: &str, header_key: Option<&str>) -> Value {
    let mut req = d.client.get(format!("{}/api/{path}", d.url));
    if let Some(k) = header_key {
        req = req.header("x-functions-key", k);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200, "{path}");
    let echo: Value = res.json().await.unwrap();
    echo["data"]["req"]["Identities"].clone()
}

/// The claims of the single identity in `ids`, as `(type suffix, value)`.
fn claims(ids: &Value) -> Vec<(String, String)> {
    assert_eq!(ids.as_array().unwrap().len(), 1, "{ids}");
    ids[0]["Claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["Issuer"], "LOCAL AUTHORITY");
            let kind = c["Type"].as_str().unwrap();
            let short = kind.rsplit('/').next().unwrap().to_owned();
            (short, c["Value"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn identities_are_the_claims_the_host_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let data = dir.path().join("data");

    // `func start` without --enableAuth: an anonymous function without a key is not
    // authenticated (ASP.NET Core's empty identity); with a key, or a function-level function,
    // Core Tools' handler makes the request Admin.
    let d = Devhost::start_with(&root, &data, free_port(), &[]).await;
    let anon = identities(&d, "Echo", None).await;
    assert_eq!(
        anon,
        json!([{
            "AuthenticationType": null, "IsAuthenticated": false, "Actor": null,
            "BootstrapContext": null, "Claims": [], "Label": null, "Name": null,
            "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
        }])
    );
    let keyed = identities(&d, "Keyed", None).await;
    assert_eq!(keyed[0]["AuthenticationType"], "WebJobsAuthLevel");
    assert_eq!(keyed[0]["IsAuthenticated"], true);
    assert_eq!(
        keyed[0]["Claims"][0]["Type"],
        "http://schemas.microsoft.com/2017/07/functions/claims/authlevel"
    );
    assert_eq!(
        keyed[0]["Claims"][0]["ValueType"],
        "http://www.w3.org/2001/XMLSchema#string"
    );
    assert_eq!(claims(&keyed), [("authlevel".into(), "Admin".into())]);
    let with_code = identities(&d, "Echo?code=anything", None).await;
    assert_eq!(claims(&with_code), [("authlevel".into(), "Admin".into())]);
    drop(d);

    // --enable-auth: the key's level, `invoke` and the key's name; a key that is not the app's
    // leaves the empty identity.
    let d = Devhost::start_with(&root, &data, free_port(), &["--enable-auth"]).await;
    let (_, master, default) = host_keys(&data);
    let (master, default) = (master.as_str(), default.as_str());
    let key_claims = |level: &str, name: &str| {
        vec![
            ("authlevel".to_owned(), level.to_owned()),
            ("invoke".to_owned(), "true".to_owned()),
            ("keyid".to_owned(), name.to_owned()),
        ]
    };
    let by_default = identities(&d, "Keyed", Some(default)).await;
    assert_eq!(by_default[0]["AuthenticationType"], "WebJobsAuthLevel");
    assert_eq!(claims(&by_default), key_claims("Function", "default"));
    let by_master = identities(&d, &format!("Keyed?code={master}"), None).await;
    assert_eq!(claims(&by_master), key_claims("Admin", "master"));
    assert_eq!(identities(&d, "Echo", None).await, anon);
    assert_eq!(identities(&d, "Echo", Some("not-a-key")).await, anon);
    let anon_with_key = identities(&d, "Echo", Some(default)).await;
    assert_eq!(claims(&anon_with_key), key_claims("Function", "default"));
}

#[tokio::test]
async fn http_throttles_and_custom_headers_are_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    common::set_host_json(&root, |host| {
        host["extensions"]["http"] = json!({
            "maxConcurrentRequests": 1, "maxOutstandingRequests": 2,
            "customHeaders": {"X-Pyh-Custom": "yes", "Content-Type": "text/x-not-used"}
        });
    });
    let data = dir.path().join("data");
    let d = Devhost::start_with(&root, &data, free_port(), &[]).await;
    // Four requests of 1.5 s at once: one runs, one waits (2 outstanding), two get 429.
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..4u64)
        .map(|i| {
            let req = d
                .client
                .get(format!("{}/api/Echo?i={i}", d.url))
                .header("x-pyh-delay-ms", "1500");
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(200 * i)).await;
                req.send().await.unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "one at a time"
    );
    for r in &answers[2..] {
        assert_eq!(r.headers()["x-function-scaleout"], "1");
        assert!(r.headers().get("x-pyh-custom").is_none());
    }
    for r in &answers[..2] {
        assert_eq!(r.headers()["x-pyh-custom"], "yes");
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "the function's wins"
        );
    }
    let recorded = d
        .get_json("/api/Recorded?event=invocation&function=Echo")
        .await;
    assert!(
        recorded
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["inFlight"] == 1),
        "{recorded}"
    );
    drop(d);

    // Dynamic throttles (performance counters) are refused; so is an unknown key.
    common::set_host_json(&root, |host| {
        host["extensions"]["http"] = json!({"dynamicThrottlesEnabled": true});
    });
    common::assert_start_refused(
        &root,
        &data,
        &[
            "extensions.http.dynamicThrottlesEnabled",
            "not supported by the devhost",
        ],
    );
    common::set_host_json(&root, |host| {
        host["extensions"]["http"] = json!({"maxOutstandingRequest": 5});
    });
    common::assert_start_refused(
        &root,
        &data,
        &[
            "extensions.http.maxOutstandingRequest",
            "not supported by the devhost",
        ],
    );
}

/// The secrets `--enable-auth` wrote: the whole `host.json`, its master key and the first
/// function key.
fn host_keys(data: &std::path::Path) -> (Value, String, String) {
    let text = std::fs::read_to_string(data.join("secrets/host.json")).unwrap();
    let secrets: Value = serde_json::from_str(&text).unwrap();
    let master = secrets["masterKey"]["value"].as_str().unwrap().to_owned();
    let default = secrets["functionKeys"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    (secrets, master, default)
}
