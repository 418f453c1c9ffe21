//! Microsoft's Python Service Bus SDK (azure-servicebus 7.15.0, unmodified) drives the AMQP
//! front end over loopback: each test starts a server with a fresh queue and runs one scenario
//! of `tests/amqp/python_sdk.py`.
//!
//! The SDK comes from `SB_PYTHON` (a Python with azure-servicebus installed), by default the
//! virtual environment `.ci/run` creates, `~/.cache/resilient-jobs/venv-sdk`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "amqp_common/mod.rs"]
mod common;

async fn scenario(name: &str) {
    common::run_scenario(
        &common::python(),
        &[common::script("python_sdk.py")],
        &[],
        name,
    )
    .await;
}

#[tokio::test]
async fn send_receive_complete() {
    scenario("send_receive_complete").await;
}

#[tokio::test]
async fn batch_and_list_sends() {
    scenario("batch").await;
}

#[tokio::test]
async fn abandon_redelivers_with_delivery_count_plus_one() {
    scenario("abandon").await;
}

#[tokio::test]
async fn dead_letter_with_reason_reaches_the_subqueue() {
    scenario("dead_letter").await;
}

#[tokio::test]
async fn max_delivery_count_dead_letters() {
    scenario("max_delivery_count").await;
}

#[tokio::test]
async fn session_receivers_are_refused_loudly() {
    scenario("session_receiver_refused").await;
}

#[tokio::test]
async fn wrong_key_is_refused() {
    scenario("wrong_key").await;
}

#[tokio::test]
async fn each_link_needs_the_claim_of_its_role() {
    scenario("claims").await;
}

#[tokio::test]
async fn unknown_queue_is_not_found() {
    scenario("unknown_queue").await;
}

#[tokio::test]
async fn oversize_message_is_refused() {
    scenario("oversize").await;
}

#[tokio::test]
async fn peek_renew_lock_defer_and_receive_deferred() {
    scenario("peek_renew_defer").await;
}

#[tokio::test]
async fn schedule_and_cancel() {
    scenario("schedule_cancel").await;
}

#[tokio::test]
async fn an_expired_message_is_dead_lettered_or_dropped_as_its_queue_says() {
    scenario("ttl_expiry").await;
}

#[tokio::test]
async fn duplicate_detection_drops_a_message_id_seen_within_the_window() {
    scenario("duplicate_detection").await;
}

#[tokio::test]
async fn receive_and_delete() {
    scenario("receive_and_delete").await;
}
