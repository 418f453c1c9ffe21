//! One queue, two front ends over loopback: a message Microsoft's Python SDK sends over AMQP is
//! received over the REST subset, and one sent over REST is received by the SDK, body, message
//! id, content type, correlation id and custom properties intact (Service Bus maps both APIs onto
//! the same message: Microsoft's "Service Bus REST: Send Message" and the AMQP guide's message
//! mapping).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "amqp_common/mod.rs"]
mod common;

use broker::rest::{Rest, router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

async fn python(conn: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(common::python())
        .arg(common::script("interop.py"))
        .args(args)
        .env("SB_CONNECTION_STRING", conn)
        .env("SB_QUEUE", "interop")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "interop.py {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn amqp_to_rest_and_rest_to_amqp_keep_body_and_properties() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let durable = common::durable(&["interop"]);
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", http.local_addr().unwrap());
    let app = router(Rest {
        namespace: durable.namespace.clone(),
        base_url: url.clone(),
    });
    tokio::spawn(async move { axum::serve(http, app).await });
    let (server, amqp) = common::serve(&durable, "interop-test").await;
    let conn = common::sdk_connection_string(amqp);
    let client = reqwest::Client::new();

    // AMQP -> REST.
    python(
        &conn,
        &[
            "send",
            "{\"hello\":\"rest\"}",
            "from-amqp",
            "application/json",
            "corr-1",
            "{\"tenant\":\"contoso\",\"attempt\":3,\"urgent\":true}",
        ],
    )
    .await;
    let res = client
        .post(format!("{url}/servicebus/interop/messages/head?timeout=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let headers = res.headers().clone();
    let broker: Value =
        serde_json::from_str(headers["brokerproperties"].to_str().unwrap()).unwrap();
    assert_eq!(broker["MessageId"], "from-amqp");
    assert_eq!(broker["CorrelationId"], "corr-1");
    assert_eq!(broker["DeliveryCount"], 1);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["tenant"], "\"contoso\"");
    assert_eq!(headers["attempt"], "3");
    assert_eq!(headers["urgent"], "true");
    let location = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(res.text().await.unwrap(), "{\"hello\":\"rest\"}");
    let done = client.delete(&location).send().await.unwrap();
    assert_eq!(done.status(), 200);

    // REST -> AMQP.
    let sent = client
        .post(format!("{url}/servicebus/interop/messages"))
        .header(
            "BrokerProperties",
            r#"{"MessageId":"from-rest","CorrelationId":"corr-2"}"#,
        )
        .header("content-type", "text/plain")
        .header("tenant", "\"fabrikam\"")
        .header("attempt", "7")
        .body("hello amqp")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let got: Value = serde_json::from_str(python(&conn, &["receive"]).await.trim()).unwrap();
    assert_eq!(
        got,
        json!({
            "body": "hello amqp",
            "messageId": "from-rest",
            "contentType": "text/plain",
            "correlationId": "corr-2",
            "deliveryCount": 0,
            "properties": {"tenant": "fabrikam", "attempt": 7},
        })
    );
    let stats = durable.namespace.stats().await.unwrap();
    assert_eq!(
        (stats[0].active, stats[0].locked, stats[0].completed),
        (0, 0, 2)
    );
    server.stop();
}
