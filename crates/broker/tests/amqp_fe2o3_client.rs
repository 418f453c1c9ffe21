//! A Rust AMQP client (fe2o3-amqp, the crates the Azure SDK for Rust builds on) against the
//! front end over loopback: SASL ANONYMOUS and PLAIN, `$cbs` put-token by hand, send, peek-lock
//! receive with the lock token as the delivery tag, complete, and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "amqp_common/mod.rs"]
mod common;

use common::fe2o3::{
    KEY, assert_refused, attach_receiver, attach_sender, open, open_authorized, put_token,
    put_token_for, sas_token_for, send_pipelined, sent, start, with_message_id,
};

use std::time::Duration;

use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::types::messaging::Message;
use fe2o3_amqp::types::primitives::Value;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};

#[tokio::test]
async fn anonymous_cbs_send_receive_complete() {
    let (server, url, _store) = start().await;
    let (mut connection, mut session) = open_authorized(&url, "rust-client").await;

    let mut sender = attach_sender(&mut session, "sender", "jobs").await;
    let message = Message::builder()
        .properties(with_message_id("r-1"))
        .value("from rust")
        .build();
    sender
        .send(message)
        .await
        .unwrap()
        .accepted_or("not accepted")
        .unwrap();

    let mut receiver = attach_receiver(&mut session, "receiver", "jobs").await;
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

/// A sender with many transfers unsettled at once (as an SDK sender used concurrently): each is
/// accepted once stored, and the queue keeps the link's order; a receiver settling a hundred at
/// once completes them all.
#[tokio::test]
async fn pipelined_transfers_are_all_accepted_and_kept_in_order() {
    let (server, url, _store) = start().await;
    let (mut connection, mut session) = open_authorized(&url, "pipeliner").await;
    let mut sender = attach_sender(&mut session, "sender", "jobs").await;
    // Past the link credit (1000), so credit must come back as the store keeps up.
    const N: usize = 2500;
    send_pipelined(
        &mut sender,
        (0..N).map(|i| {
            Message::builder()
                .properties(with_message_id(format!("p-{i}")))
                .value(format!("m{i}"))
                .build()
        }),
    )
    .await;
    let mut receiver = attach_receiver(&mut session, "receiver", "jobs").await;
    // Settled a hundred at a time (one disposition range each), each answered once stored.
    let mut deliveries = Vec::new();
    for i in 0..N {
        let delivery = receiver.recv::<Value>().await.unwrap();
        assert_eq!(delivery.body(), &Value::String(format!("m{i}")));
        deliveries.push(delivery);
        if deliveries.len() == 100 {
            receiver.accept_all(deliveries.drain(..)).await.unwrap();
        }
    }
    receiver.accept_all(deliveries.drain(..)).await.unwrap();
    receiver.close().await.unwrap();
    let mut again = attach_receiver(&mut session, "again", "jobs").await;
    let left = tokio::time::timeout(Duration::from_millis(500), again.recv::<Value>()).await;
    assert!(left.is_err(), "every message was completed: {left:?}");
    let _ = connection.close().await;
    server.stop();
}

/// Receivers in peek-lock with `rcv-settle-mode second` (as the SDKs attach them) settling
/// batches at once, several connections together: every message is completed exactly once.
#[tokio::test]
async fn concurrent_receivers_settling_batches_complete_every_message() {
    let (server, url, durable) = start().await;
    let (mut connection, mut session) = open_authorized(&url, "filler").await;
    let mut sender = attach_sender(&mut session, "sender", "jobs").await;
    const N: u64 = 2000;
    send_pipelined(
        &mut sender,
        (0..N).map(|i| Message::builder().value(format!("m{i}")).build()),
    )
    .await;
    let left = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(N));
    let mut tasks = Vec::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    for c in 0..8 {
        let (url, left, seen) = (url.clone(), left.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let (connection, mut session) = open_authorized(&url, format!("r{c}")).await;
            let mut receiver = Receiver::builder()
                .name(format!("receiver-{c}"))
                .source("jobs")
                .receiver_settle_mode(fe2o3_amqp::types::definitions::ReceiverSettleMode::Second)
                .credit_mode(fe2o3_amqp::link::receiver::CreditMode::Auto(64))
                .attach(&mut session)
                .await
                .unwrap();
            while left.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                let Ok(first) =
                    tokio::time::timeout(Duration::from_millis(200), receiver.recv::<Value>())
                        .await
                else {
                    continue;
                };
                let mut batch = vec![first.unwrap()];
                while batch.len() < 32 {
                    match tokio::time::timeout(Duration::ZERO, receiver.recv::<Value>()).await {
                        Ok(next) => batch.push(next.unwrap()),
                        Err(_) => break,
                    }
                }
                let taken = batch.len() as u64;
                for d in &batch {
                    let fresh = seen.lock().unwrap().insert(format!("{:?}", d.body()));
                    assert!(fresh, "delivered twice: {:?}", d.body());
                }
                receiver.accept_all(batch).await.unwrap();
                left.fetch_sub(taken, std::sync::atomic::Ordering::SeqCst);
            }
            receiver.close().await.unwrap();
            drop((session, connection));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The settlements of a connection that closed right after its last disposition are stored
    // all the same (by its settler), within moments.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut stats = durable.namespace.stats().await.unwrap();
    while stats.iter().any(|q| q.name == "jobs" && q.completed < N)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = durable.namespace.stats().await.unwrap();
    }
    let jobs = stats.iter().find(|q| q.name == "jobs").unwrap();
    assert_eq!(
        (jobs.completed, jobs.active, jobs.locked),
        (N, 0, 0),
        "{jobs:?}"
    );
    let _ = connection.close().await;
    server.stop();
}

#[tokio::test]
async fn release_does_not_count_a_delivery_but_modified_does() {
    let (server, url, _store) = start().await;
    let (mut connection, mut session) = open_authorized(&url, "rel").await;
    let _sender = sent(&mut session, "again").await;
    let mut receiver = attach_receiver(&mut session, "receiver", "jobs").await;
    let count = |d: &fe2o3_amqp::link::delivery::Delivery<Value>| {
        d.message().header.as_ref().map(|h| h.delivery_count)
    };
    let first = receiver.recv::<Value>().await.unwrap();
    assert_eq!(count(&first), Some(0));
    receiver.release(&first).await.unwrap();
    let second = receiver.recv::<Value>().await.unwrap();
    assert_eq!(
        count(&second),
        Some(0),
        "released must not count a delivery"
    );
    receiver
        .modify(
            &second,
            fe2o3_amqp::types::messaging::Modified {
                delivery_failed: Some(true),
                undeliverable_here: None,
                message_annotations: None,
            },
        )
        .await
        .unwrap();
    let third = receiver.recv::<Value>().await.unwrap();
    assert_eq!(
        count(&third),
        Some(1),
        "modified (abandon) counts a delivery"
    );
    receiver.accept(&third).await.unwrap();
    let _ = connection.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once_each_get_their_messages() {
    let (server, url, _store) = start().await;
    // A receiver waiting on an empty queue must not hold up anyone else.
    let (_idle, mut idle_session) = open(&url, "idle").await;
    assert_eq!(
        put_token(
            &mut idle_session,
            "sb://127.0.0.1/jobs/$DeadLetterQueue",
            KEY
        )
        .await,
        202
    );
    let mut waiting = attach_receiver(&mut idle_session, "dlq", "jobs/$DeadLetterQueue").await;
    let pending = tokio::spawn(async move { waiting.recv::<Value>().await.map(|_| ()) });

    let mut tasks = Vec::new();
    for client in 0..16 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let (mut c, mut session) = open_authorized(&url, format!("c{client}")).await;
            let mut sender = attach_sender(&mut session, "s", "jobs").await;
            for i in 0..25 {
                let m = Message::builder().value(format!("{client}-{i}")).build();
                sender.send(m).await.unwrap().accepted_or("no").unwrap();
            }
            sender.close().await.unwrap();
            c.close().await.unwrap();
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("a client was blocked")
            .unwrap();
    }
    let (mut c, mut session) = open_authorized(&url, "drain").await;
    let mut receiver = attach_receiver(&mut session, "r", "jobs").await;
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 16 * 25 {
        let d = tokio::time::timeout(Duration::from_secs(10), receiver.recv::<Value>())
            .await
            .expect("messages missing")
            .unwrap();
        receiver.accept(&d).await.unwrap();
        assert!(
            seen.insert(format!("{:?}", d.body())),
            "delivered twice: {:?}",
            d.body()
        );
    }
    assert!(
        !pending.is_finished(),
        "the dead-letter receiver got something it should not have"
    );
    pending.abort();
    let _ = c.close().await;
    server.stop();
}

#[tokio::test]
async fn links_are_detached_when_their_token_expires() {
    let (server, url, _store) = start().await;
    let (mut connection, mut session) = open(&url, "exp").await;
    let audience = "sb://127.0.0.1/jobs";
    assert_eq!(
        put_token_for(&mut session, audience, sas_token_for(KEY, audience, 4)).await,
        202
    );
    let mut sender = sent(&mut session, "in time").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let late = sender
        .send(Message::builder().value("too late").build())
        .await;
    assert_refused(late.map(|_| ()), "ExpiredToken");
    let _ = connection.close().await;
    server.stop();
}

#[tokio::test]
async fn plain_sasl_checks_the_key() {
    let (server, url, _store) = start().await;
    let plain = |password: &str| {
        Connection::builder()
            .container_id("plain")
            .sasl_profile(SaslProfile::Plain {
                username: "RootManageSharedAccessKey".into(),
                password: password.into(),
            })
            .open(url.as_str())
    };
    plain(KEY).await.unwrap().close().await.unwrap();
    assert!(
        plain("wrong").await.is_err(),
        "PLAIN with the wrong key must fail"
    );
    server.stop();
}

#[tokio::test]
async fn plain_sasl_with_a_rule_gets_that_rules_rights() {
    let (server, url, _store) = start().await;
    let (name, key) = ("sender", "sender-key");
    assert!(common::SEND_ONLY.starts_with(&format!("{name}:Send:{key}")));
    let mut connection = Connection::builder()
        .container_id("plain-sender")
        .sasl_profile(SaslProfile::Plain {
            username: name.into(),
            password: key.into(),
        })
        .open(url.as_str())
        .await
        .unwrap();
    let mut session = Session::begin(&mut connection).await.unwrap();
    let mut sender = attach_sender(&mut session, "sender", "jobs").await;
    let by_plain = Message::builder().value("by PLAIN").build();
    sender
        .send(by_plain)
        .await
        .unwrap()
        .accepted_or("not accepted")
        .unwrap();
    let refused = Receiver::attach(&mut session, "receiver", "jobs").await;
    assert_refused(refused.map(|_| ()), "Listen");
    let _ = connection.close().await;
    server.stop();
}

#[tokio::test]
async fn wrong_key_gets_401_and_no_access() {
    let (server, url, _store) = start().await;
    let (mut connection, mut session) = open(&url, "bad").await;
    assert_eq!(
        put_token(&mut session, "sb://127.0.0.1/jobs", "not-the-key").await,
        401
    );
    let refused = Sender::attach(&mut session, "sender", "jobs").await;
    assert_refused(refused.map(|_| ()), "UnauthorizedAccess");
    let _ = connection.close().await;
    server.stop();
}

#[tokio::test]
async fn unknown_queue_is_not_found() {
    let (server, url, _store) = start().await;
    let (mut connection, mut session) = open(&url, "nf").await;
    assert_eq!(put_token(&mut session, "sb://127.0.0.1/", KEY).await, 202);
    let refused = Receiver::attach(&mut session, "receiver", "nosuch").await;
    assert_refused(refused.map(|_| ()), "NotFound");
    let _ = connection.close().await;
    server.stop();
}

/// Raw bytes on the wire: bad input closes the connection with an error, never crashes the
/// server, and other clients keep working.
mod malformed {
    use super::*;
    use broker::amqp::codec::{self, FRAME_AMQP, FRAME_SASL};
    use bytes::BytesMut;
    use fe2o3_amqp::types::primitives::Symbol;
    use fe2o3_amqp::types::sasl::SaslInit;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const SASL: &[u8; 8] = b"AMQP\x03\x01\x00\x00";
    const AMQP: &[u8; 8] = b"AMQP\x00\x01\x00\x00";

    async fn opened(url: &str) -> TcpStream {
        let mut s = TcpStream::connect(url.trim_start_matches("amqp://"))
            .await
            .unwrap();
        s.write_all(SASL).await.unwrap();
        let mut h = [0u8; 8];
        s.read_exact(&mut h).await.unwrap();
        assert_eq!(&h, SASL);
        let mechanisms = codec::read_frame(&mut s, 4096).await.unwrap();
        assert_eq!(mechanisms.kind, FRAME_SASL);
        let init = SaslInit {
            mechanism: Symbol::from("ANONYMOUS"),
            initial_response: None,
            hostname: None,
        };
        let mut out = BytesMut::new();
        codec::write_frame(&mut out, FRAME_SASL, 0, &init, &[]).unwrap();
        s.write_all(&out).await.unwrap();
        let outcome = codec::read_frame(&mut s, 4096).await.unwrap();
        assert_eq!(outcome.kind, FRAME_SASL);
        s.write_all(AMQP).await.unwrap();
        s.read_exact(&mut h).await.unwrap();
        assert_eq!(&h, AMQP);
        let open = codec::open("raw".into(), 65536, 8);
        let mut out = BytesMut::new();
        codec::write_frame(&mut out, FRAME_AMQP, 0, &open, &[]).unwrap();
        s.write_all(&out).await.unwrap();
        let reply = codec::read_frame(&mut s, 1 << 20).await.unwrap();
        assert!(matches!(
            codec::decode_performative(&reply.body).unwrap().0,
            fe2o3_amqp::types::performatives::Performative::Open(_)
        ));
        s
    }

    /// Read frames until the server's close; return its error text.
    async fn close_error(s: &mut TcpStream) -> String {
        loop {
            let frame = codec::read_frame(s, 1 << 20)
                .await
                .expect("the server closed without a close frame");
            if let (fe2o3_amqp::types::performatives::Performative::Close(c), _) =
                codec::decode_performative(&frame.body).unwrap()
            {
                return format!("{:?}", c.error);
            }
        }
    }

    #[tokio::test]
    async fn garbage_performative_closes_with_decode_error() {
        let (server, url, _store) = start().await;
        let mut s = opened(&url).await;
        // A well-sized frame whose body is not an AMQP performative.
        s.write_all(&[0, 0, 0, 12, 2, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef])
            .await
            .unwrap();
        let error = close_error(&mut s).await;
        assert!(error.contains("DecodeError"), "{error}");
        // The server still serves others.
        let other = Connection::builder()
            .container_id("ok")
            .sasl_profile(SaslProfile::Anonymous)
            .open(url.as_str())
            .await;
        other.unwrap().close().await.unwrap();
        server.stop();
    }

    #[tokio::test]
    async fn oversized_frame_closes_the_connection() {
        let (server, url, _store) = start().await;
        let mut s = opened(&url).await;
        s.write_all(&[0x7f, 0xff, 0xff, 0xff, 2, 0, 0, 0])
            .await
            .unwrap();
        let error = close_error(&mut s).await;
        assert!(error.contains("exceeds the max-frame-size"), "{error}");
        server.stop();
    }

    #[tokio::test]
    async fn amqp_without_sasl_is_answered_with_the_sasl_header() {
        let (server, url, _store) = start().await;
        let mut s = TcpStream::connect(url.trim_start_matches("amqp://"))
            .await
            .unwrap();
        s.write_all(AMQP).await.unwrap();
        let mut h = [0u8; 8];
        s.read_exact(&mut h).await.unwrap();
        assert_eq!(&h, SASL);
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        server.stop();
    }
}
