//! The Rust AMQP client's (fe2o3-amqp) side of the tests: a server on a fresh store, connections
//! with a session, SAS tokens and `$cbs` put-token by hand.

use base64::Engine as _;
use broker::amqp::Server;
use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{AmqpValue, ApplicationProperties, Message, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use ring::hmac;

/// The SAS key the server accepts (the emulator's default).
pub const KEY: &str = "SAS_KEY_VALUE";

/// A sender attached as `name` to `address`.
pub async fn attach_sender(session: &mut SessionHandle<()>, name: &str, address: &str) -> Sender {
    Sender::attach(session, name, address).await.unwrap()
}

/// A receiver attached as `name` to `address` (peek-lock, fe2o3's default credit).
pub async fn attach_receiver(
    session: &mut SessionHandle<()>,
    name: &str,
    address: &str,
) -> Receiver {
    Receiver::attach(session, name, address).await.unwrap()
}

/// Message properties carrying `id` as the message id.
pub fn with_message_id(id: impl Into<String>) -> Properties {
    Properties::builder().message_id(id.into()).build()
}

/// Send `messages` with every transfer unsettled at once (as an SDK sender used concurrently),
/// then wait until each is accepted.
pub async fn send_pipelined(
    sender: &mut Sender,
    messages: impl IntoIterator<Item = Message<AmqpValue<String>>>,
) {
    let mut pending = Vec::new();
    for message in messages {
        pending.push(sender.send_batchable(message).await.unwrap());
    }
    for outcome in pending {
        outcome.await.unwrap().accepted_or("not accepted").unwrap();
    }
}

/// A sender on `jobs` that has sent `body` and seen it accepted.
pub async fn sent(session: &mut SessionHandle<()>, body: &str) -> Sender {
    let mut sender = attach_sender(session, "sender", "jobs").await;
    let message = Message::builder().value(body.to_owned()).build();
    let outcome = sender.send(message).await.unwrap();
    outcome.accepted_or("no").unwrap();
    sender
}

/// A server over a fresh store with the queue `jobs`; its `amqp://` URL, and the store guard.
pub async fn start() -> (Server, String, super::Durable) {
    let durable = super::durable(&["jobs"]);
    let (server, addr) = super::serve(&durable, "amqp-test").await;
    (server, format!("amqp://{addr}"), durable)
}

/// An anonymous (SASL ANONYMOUS) connection as `container_id`, and a session on it.
pub async fn open(
    url: &str,
    container_id: impl Into<String>,
) -> (ConnectionHandle<()>, SessionHandle<()>) {
    let mut connection = Connection::builder()
        .container_id(container_id.into())
        .sasl_profile(SaslProfile::Anonymous)
        .open(url)
        .await
        .unwrap();
    let session = Session::begin(&mut connection).await.unwrap();
    (connection, session)
}

/// [`open`], then a token for `sb://127.0.0.1/jobs` put on `$cbs` (accepted: 202).
pub async fn open_authorized(
    url: &str,
    container_id: impl Into<String>,
) -> (ConnectionHandle<()>, SessionHandle<()>) {
    let (connection, mut session) = open(url, container_id).await;
    assert_eq!(
        put_token(&mut session, "sb://127.0.0.1/jobs", KEY).await,
        202
    );
    (connection, session)
}

/// `result` failed, and its error names `condition` (the AMQP error the front end sent).
pub fn assert_refused<E: std::fmt::Debug>(result: Result<(), E>, condition: &str) {
    let text = format!("{result:?}");
    assert!(
        result.is_err() && text.contains(condition),
        "expected a refusal naming {condition}: {text}"
    );
}

/// A SAS token for `audience` signed with `key`, valid for `seconds`.
pub fn sas_token_for(key: &str, audience: &str, seconds: i64) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let se = chrono::Utc::now().timestamp() + seconds;
    let sr = enc(audience);
    let mac = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD
        .encode(hmac::sign(&mac, format!("{sr}\n{se}").as_bytes()));
    format!(
        "SharedAccessSignature sr={sr}&sig={}&se={se}&skn=RootManageSharedAccessKey",
        enc(&sig)
    )
}

/// Put a ten-minute token for `audience` signed with `key` on `$cbs`; the response's status code.
pub async fn put_token(session: &mut SessionHandle<()>, audience: &str, key: &str) -> i32 {
    put_token_for(session, audience, sas_token_for(key, audience, 600)).await
}

/// Put `token` for `audience` on `$cbs`; the response's status code.
pub async fn put_token_for(session: &mut SessionHandle<()>, audience: &str, token: String) -> i32 {
    let mut sender = attach_sender(session, "cbs-sender", "$cbs").await;
    let mut receiver = attach_receiver(session, "cbs-receiver", "$cbs").await;
    let request = Message::builder()
        .properties(with_message_id("req-1"))
        .application_properties(
            ApplicationProperties::builder()
                .insert("operation", "put-token")
                .insert("type", "servicebus.windows.net:sastoken")
                .insert("name", audience)
                .build(),
        )
        .value(token)
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
