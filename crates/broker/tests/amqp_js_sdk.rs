//! Microsoft's JavaScript Service Bus SDK (@azure/service-bus 7.9.5 over rhea, unmodified)
//! drives the AMQP front end over loopback: each test runs one scenario of
//! `tests/amqp/js_sdk.cjs` against a fresh server.
//!
//! The SDK comes from `SB_NODE_MODULES` (a `node_modules` with @azure/service-bus), by default
//! the one `.ci/run` installs, `~/.cache/resilient-jobs/node-sdk/node_modules`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "amqp_common/mod.rs"]
mod common;

async fn scenario(name: &str) {
    let modules = common::tool(
        "SB_NODE_MODULES",
        &common::cache("node-sdk/node_modules/@azure/service-bus"),
        "npm install --prefix ~/.cache/resilient-jobs/node-sdk @azure/service-bus@7.9.5",
    );
    // The default names the package itself; NODE_PATH wants the node_modules above it.
    let modules = if modules.ends_with("@azure/service-bus") {
        modules
            .parent()
            .and_then(|p| p.parent())
            .unwrap()
            .to_owned()
    } else {
        modules
    };
    let node = std::path::PathBuf::from("node");
    common::run_scenario(
        &node,
        &[common::script("js_sdk.cjs")],
        &[("NODE_PATH", modules)],
        name,
    )
    .await;
}

common::scenarios! {
    send_receive_complete => "send_receive_complete",
    batch_abandon_and_dead_letter => "batch_abandon_dead_letter",
    wrong_key_is_refused => "wrong_key",
    each_link_needs_the_claim_of_its_role => "claims",
    unknown_queue_is_not_found => "unknown_queue",
    duplicate_detection_drops_a_message_id_seen_within_the_window => "duplicate_detection",
    abandoned_ten_times_is_dead_lettered => "max_delivery_count",
    peek_renew_lock_defer_and_receive_deferred => "peek_renew_defer",
    schedule_and_cancel => "schedule_cancel",
    receive_and_delete => "receive_and_delete",
    subscribe_completes_and_redelivers_a_failed_message => "subscribe_auto_completes",
    oversize_message_is_refused => "oversize",
    a_session_receiver_is_refused => "session_receiver_refused",
}
