//! The REST front over loopback: a real server on 127.0.0.1 and a real HTTP client. Settlement
//! names a queue, a message and a lock, and all three must agree, as on Service Bus (Microsoft's
//! "Delete Message" and "Unlock Message" REST pages: `404` "No message was found with the
//! specified MessageId or LockToken", `410` "Specified queue or subscription does not exist").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use broker::Namespace;
use broker::rest::{Rest, router};
use broker::store::{QueueOptions, Store};
use serde_json::Value;

struct Server {
    url: String,
    store: Store,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn serve(max_delivery_count: u32) -> Server {
    // In a workspace build reqwest has TLS enabled by other crates and wants a crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("q.db"),
        QueueOptions {
            max_delivery_count,
            lock_duration: Duration::from_secs(60),
            time_to_live: Duration::from_secs(3600),
            dead_letter_on_expiration: true,
            duplicate_detection: None,
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(Rest {
        namespace: Namespace::new(store.clone(), ["jobs".to_owned()]),
        base_url: url.clone(),
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url,
        store,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    async fn send(&self, body: &str) {
        let res = self
            .client
            .post(format!("{}/servicebus/jobs/messages", self.url))
            .header("BrokerProperties", r#"{"MessageId":"m-1"}"#)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    /// Peek-lock `entity`: `(sequence number, lock token, Location)`.
    async fn lock(&self, entity: &str) -> (i64, String, String) {
        let res = self
            .client
            .post(format!(
                "{}/servicebus/{entity}/messages/head?timeout=0",
                self.url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let props: Value =
            serde_json::from_str(res.headers()["brokerproperties"].to_str().unwrap()).unwrap();
        (
            props["SequenceNumber"].as_i64().unwrap(),
            props["LockToken"].as_str().unwrap().to_owned(),
            location,
        )
    }

    async fn settle(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let res = self
            .client
            .request(method, format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn counts(&self) -> (u64, u64, u64, u64) {
        let s = self.store.stats(vec![]).await.unwrap().remove(0);
        (s.active, s.locked, s.completed, s.abandoned)
    }
}

#[tokio::test]
async fn complete_and_unlock_answer_410_for_an_unknown_queue_and_404_for_another_message() {
    let s = serve(10).await;
    s.send("a").await;
    let (seq, token, location) = s.lock("jobs").await;
    assert!(location.ends_with(&format!("/servicebus/jobs/messages/{seq}/{token}")));

    for method in [reqwest::Method::DELETE, reqwest::Method::PUT] {
        let (status, problem) = s
            .settle(
                method.clone(),
                &format!("/servicebus/nosuch/messages/{seq}/{token}"),
            )
            .await;
        assert_eq!(
            status, 410,
            "{method} on a queue that does not exist: {problem}"
        );
        assert_eq!(problem["status"], 410);
        let (status, problem) = s
            .settle(
                method.clone(),
                &format!("/servicebus/jobs/messages/999999/{token}"),
            )
            .await;
        assert_eq!(status, 404, "{method} naming another message: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("999999"),
            "{problem}"
        );
    }
    assert_eq!(
        s.counts().await,
        (0, 1, 0, 0),
        "the locked message is untouched"
    );

    // The message may be named by its MessageId too; unlock counts a delivery.
    let (status, _) = s
        .settle(
            reqwest::Method::PUT,
            &format!("/servicebus/jobs/messages/m-1/{token}"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.counts().await, (1, 0, 0, 1));

    let (seq, token, _) = s.lock("jobs").await;
    let path = format!("/servicebus/jobs/messages/{seq}/{token}");
    assert_eq!(s.settle(reqwest::Method::DELETE, &path).await.0, 200);
    assert_eq!(
        s.settle(reqwest::Method::DELETE, &path).await.0,
        404,
        "a settled message is not found"
    );
    assert_eq!(s.counts().await, (0, 0, 1, 1));
}

#[tokio::test]
async fn dead_letter_settlement_checks_queue_and_message_too() {
    let s = serve(1).await;
    s.send("poison").await;
    let (seq, token, _) = s.lock("jobs").await;
    let (status, _) = s
        .settle(
            reqwest::Method::PUT,
            &format!("/servicebus/jobs/messages/{seq}/{token}"),
        )
        .await;
    assert_eq!(status, 200, "the last delivery: dead-lettered");

    let (seq, token, location) = s.lock("jobs/$DeadLetterQueue").await;
    assert!(location.contains("/servicebus/jobs/$DeadLetterQueue/messages/"));
    let dead = "jobs/$DeadLetterQueue";
    for (entity, id, expected, why) in [
        ("nosuch/$DeadLetterQueue", seq, 410, "no such queue"),
        (dead, 999_999, 404, "no such dead letter"),
        (
            "jobs",
            seq,
            404,
            "a dead-letter lock does not complete an active message",
        ),
        (dead, seq, 200, "the dead letter is deleted"),
    ] {
        let path = format!("/servicebus/{entity}/messages/{id}/{token}");
        let (status, _) = s.settle(reqwest::Method::DELETE, &path).await;
        assert_eq!(status, expected, "{why}: {path}");
    }
    assert_eq!(s.store.stats(vec![]).await.unwrap()[0].dead_lettered, 0);
}

#[tokio::test]
async fn a_send_over_256_kb_with_its_properties_is_refused_with_413_and_nothing_is_stored() {
    let s = serve(10).await;
    let send = |body: String, property: &str| {
        s.client
            .post(format!("{}/servicebus/jobs/messages", s.url))
            .header("BrokerProperties", r#"{"MessageId":"big"}"#)
            .header("x-note", property.to_owned())
            .body(body)
            .send()
    };
    let limit = 256 * 1024;
    let res = send("x".repeat(limit + 1), "").await.unwrap();
    assert_eq!(res.status(), 413);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("262144"),
        "{problem}"
    );
    // The properties count too: a body just under the limit with a large property is refused.
    let res = send("x".repeat(limit - 100), &"p".repeat(200))
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = send("x".repeat(limit - 1000), "small").await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(s.counts().await.0, 1);
}
