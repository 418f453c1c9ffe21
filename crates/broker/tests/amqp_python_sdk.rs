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

common::scenarios! {
    send_receive_complete => "send_receive_complete",
    batch_and_list_sends => "batch",
    abandon_redelivers_with_delivery_count_plus_one => "abandon",
    dead_letter_with_reason_reaches_the_subqueue => "dead_letter",
    max_delivery_count_dead_letters => "max_delivery_count",
    session_receivers_are_refused_loudly => "session_receiver_refused",
    wrong_key_is_refused => "wrong_key",
    each_link_needs_the_claim_of_its_role => "claims",
    unknown_queue_is_not_found => "unknown_queue",
    oversize_message_is_refused => "oversize",
    peek_renew_lock_defer_and_receive_deferred => "peek_renew_defer",
    schedule_and_cancel => "schedule_cancel",
    an_expired_message_is_dead_lettered_or_dropped_as_its_queue_says => "ttl_expiry",
    duplicate_detection_drops_a_message_id_seen_within_the_window => "duplicate_detection",
    receive_and_delete => "receive_and_delete",
}
