//! A Rust AMQP client (fe2o3-amqp, the crates the Azure SDK for Rust builds on) against the
//! front end over loopback: SASL ANONYMOUS and PLAIN, `$cbs` put-token by hand, send, peek-lock
//! receive with the lock token as the delivery tag, complete, and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use amqp_front::memory::MemoryBackend;
use amqp_front::{Config, QueueProperties, SasKey, Server};
use base64::Engine;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::types::messaging::{ApplicationProperties, Message, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use ring::hmac;
use tokio::net::TcpListener;

const KEY: &str = "SAS_KEY_VALUE";

fn config() -> Config {
    Config {
        sas: SasKey {
            name: "RootManageSharedAccessKey".into(),
            key: KEY.into(),
        },
        container_id: "amqp-front-test".into(),
    }
}

async fn start() -> (Server, String) {
    let backend = Arc::new(MemoryBackend::new());
    backend.add_queue(QueueProperties {
        name: "jobs".into(),
        lock_duration: Duration::from_secs(30),
        max_delivery_count: 10,
        default_message_time_to_live: Duration::from_secs(3600),
        dead_lettering_on_message_expiration: false,
        requires_session: false,
        max_message_size_kb: 256,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("amqp://{}", listener.local_addr().unwrap());
    (Server::start(listener, backend, config()).unwrap(), url)
}

fn sas_token(key: &str, audience: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let se = chrono::Utc::now().timestamp() + 600;
    let sr = enc(audience);
    let mac = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD
        .encode(hmac::sign(&mac, format!("{sr}\n{se}").as_bytes()));
    format!(
        "SharedAccessSignature sr={sr}&sig={}&se={se}&skn=RootManageSharedAccessKey",
        enc(&sig)
    )
}

/// Put a token on `$cbs` and return the response's status code.
async fn put_token(
    session: &mut fe2o3_amqp::session::SessionHandle<()>,
    audience: &str,
    key: &str,
) -> i32 {
    let mut sender = Sender::attach(session, "cbs-sender", "$cbs").await.unwrap();
    let mut receiver = Receiver::attach(session, "cbs-receiver", "$cbs")
        .await
        .unwrap();
    let request = Message::builder()
        .properties(
            Properties::builder()
                .message_id(String::from("req-1"))
                .build(),
        )
        .application_properties(
            ApplicationProperties::builder()
                .insert("operation", "put-token")
                .insert("type", "servicebus.windows.net:sastoken")
                .insert("name", audience)
                .build(),
        )
        .value(sas_token(key, audience))
        .build();
    sender
        .send(request)
        .await
        .unwrap()
        .accepted_or("put-token not accepted")
        .unwrap();
    let response = receiver.recv::<Value>().await.unwrap();
    receiver.accept(&response).await.unwrap();
    let msg = response.message();
    let correlation = msg
        .properties
        .as_ref()
        .and_then(|p| p.correlation_id.clone());
    assert_eq!(correlation, Some(String::from("req-1").into()));
    let status = msg
        .application_properties
        .as_ref()
        .and_then(|a| a.0.get("status-code").cloned());
    sender.close().await.unwrap();
    receiver.close().await.unwrap();
    match status {
        Some(SimpleValue::Int(code)) => code,
        other => panic!("no status-code: {other:?}"),
    }
}

#[tokio::test]
async fn anonymous_cbs_send_receive_complete() {
    let (server, url) = start().await;
    let mut connection = Connection::builder()
        .container_id("rust-client")
        .sasl_profile(SaslProfile::Anonymous)
        .open(url.as_str())
        .await
        .unwrap();
    let mut session = Session::begin(&mut connection).await.unwrap();
    assert_eq!(
        put_token(&mut session, "sb://127.0.0.1/jobs", KEY).await,
        202
    );

    let mut sender = Sender::attach(&mut session, "sender", "jobs")
        .await
        .unwrap();
    let message = Message::builder()
        .properties(
            Properties::builder()
                .message_id(String::from("r-1"))
                .build(),
        )
        .value("from rust")
        .build();
    sender
        .send(message)
        .await
        .unwrap()
        .accepted_or("not accepted")
        .unwrap();

    let mut receiver = Receiver::attach(&mut session, "receiver", "jobs")
        .await
        .unwrap();
    let delivery = receiver.recv::<Value>().await.unwrap();
    assert_eq!(delivery.body(), &Value::String("from rust".into()));
    // The lock token is the delivery tag (16 bytes, .NET GUID byte order) and x-opt-lock-token.
    let tag = delivery.delivery_tag().to_vec();
    assert_eq!(tag.len(), 16);
    let annotations = delivery
        .message()
        .delivery_annotations
        .as_ref()
        .expect("delivery annotations");
    let token = annotations
        .0
        .iter()
        .find(|(k, _)| format!("{k:?}").contains("x-opt-lock-token"))
        .map(|(_, v)| v.clone());
    let Some(Value::Uuid(token)) = token else {
        panic!("no x-opt-lock-token")
    };
    assert_eq!(
        uuid::Uuid::from_bytes(*token.as_inner())
            .to_bytes_le()
            .to_vec(),
        tag
    );
    assert_eq!(
        delivery.message().header.as_ref().map(|h| h.delivery_count),
        Some(0)
    );
    receiver.accept(&delivery).await.unwrap();

    sender.close().await.unwrap();
    receiver.close().await.unwrap();
    session.end().await.unwrap();
    connection.close().await.unwrap();
    server.stop();
}

#[tokio::test]
async fn plain_sasl_checks_the_key() {
    let (server, url) = start().await;
    let good = SaslProfile::Plain {
        username: "RootManageSharedAccessKey".into(),
        password: KEY.into(),
    };
    let connection = Connection::builder()
        .container_id("plain")
        .sasl_profile(good)
        .open(url.as_str())
        .await;
    connection.unwrap().close().await.unwrap();
    let bad = SaslProfile::Plain {
        username: "RootManageSharedAccessKey".into(),
        password: "wrong".into(),
    };
    let refused = Connection::builder()
        .container_id("plain")
        .sasl_profile(bad)
        .open(url.as_str())
        .await;
    assert!(refused.is_err(), "PLAIN with the wrong key must fail");
    server.stop();
}

#[tokio::test]
async fn wrong_key_gets_401_and_no_access() {
    let (server, url) = start().await;
    let mut connection = Connection::builder()
        .container_id("bad")
        .sasl_profile(SaslProfile::Anonymous)
        .open(url.as_str())
        .await
        .unwrap();
    let mut session = Session::begin(&mut connection).await.unwrap();
    assert_eq!(
        put_token(&mut session, "sb://127.0.0.1/jobs", "not-the-key").await,
        401
    );
    let refused = Sender::attach(&mut session, "sender", "jobs").await;
    let text = format!("{refused:?}");
    assert!(
        refused.is_err() && text.contains("UnauthorizedAccess"),
        "{text}"
    );
    let _ = connection.close().await;
    server.stop();
}

#[tokio::test]
async fn unknown_queue_is_not_found() {
    let (server, url) = start().await;
    let mut connection = Connection::builder()
        .container_id("nf")
        .sasl_profile(SaslProfile::Anonymous)
        .open(url.as_str())
        .await
        .unwrap();
    let mut session = Session::begin(&mut connection).await.unwrap();
    assert_eq!(put_token(&mut session, "sb://127.0.0.1/", KEY).await, 202);
    let refused = Receiver::attach(&mut session, "receiver", "nosuch").await;
    let text = format!("{refused:?}");
    assert!(refused.is_err() && text.contains("NotFound"), "{text}");
    let _ = connection.close().await;
    server.stop();
}
