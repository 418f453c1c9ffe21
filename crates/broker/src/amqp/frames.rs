//! Constructors for the performatives the server sends, and Service Bus error values.

use fe2o3_amqp_types::definitions::{
    AmqpError, Error, ErrorCondition, Fields, Handle, LinkError, Role,
};
use fe2o3_amqp_types::messaging::DeliveryState;
use fe2o3_amqp_types::performatives::{Detach, Disposition, Flow, Transfer};
use fe2o3_amqp_types::primitives::Symbol;
use serde_bytes::ByteBuf;

use crate::amqp::backend::BackendError;

/// Service Bus error conditions (`@azure/core-amqp errors.js ConditionStatusMapper`).
pub mod condition {
    /// Lock expired or unknown.
    pub const MESSAGE_LOCK_LOST: &str = "com.microsoft:message-lock-lost";
    /// No message with that sequence number.
    pub const MESSAGE_NOT_FOUND: &str = "com.microsoft:message-not-found";
    /// Invalid argument.
    pub const ARGUMENT_ERROR: &str = "com.microsoft:argument-error";
    /// The dead-letter outcome condition (`com.microsoft:dead-letter`).
    pub const DEAD_LETTER: &str = "com.microsoft:dead-letter";
}

/// An error with all three fields written: the Python SDK indexes `info` positionally
/// (`azure/servicebus/_pyamqp/client.py SendClient._on_send_complete`, `error_info[0][2]`), so
/// an omitted trailing `info` breaks its error handling.
fn error(condition: ErrorCondition, description: String) -> Error {
    Error::new(condition, Some(description), Some(Fields::new()))
}

/// An error with a custom (`com.microsoft:*`) condition.
pub fn custom_error(condition: &str, description: impl Into<String>) -> Error {
    error(
        ErrorCondition::Custom(Symbol::from(condition)),
        description.into(),
    )
}

/// An error with a standard AMQP condition.
pub fn amqp_error(condition: AmqpError, description: impl Into<String>) -> Error {
    error(ErrorCondition::AmqpError(condition), description.into())
}

/// `amqp:link:message-size-exceeded`.
pub fn size_error(description: impl Into<String>) -> Error {
    error(
        ErrorCondition::LinkError(LinkError::MessageSizeExceeded),
        description.into(),
    )
}

/// The Service Bus error condition and management status code for a store failure.
pub fn backend_error(err: &BackendError) -> (Error, i32) {
    let text = err.to_string();
    match err {
        BackendError::NotFound(_) => (amqp_error(AmqpError::NotFound, text), 404),
        BackendError::LockLost => (custom_error(condition::MESSAGE_LOCK_LOST, text), 410),
        BackendError::MessageNotFound(_) => (custom_error(condition::MESSAGE_NOT_FOUND, text), 404),
        BackendError::Argument(_) => (custom_error(condition::ARGUMENT_ERROR, text), 400),
        BackendError::Store(source) => {
            tracing::error!(error = %source, "message store failed");
            (amqp_error(AmqpError::InternalError, text), 500)
        }
    }
}

/// The condition symbol of an error, as text.
pub fn condition_text(error: &Error) -> String {
    match &error.condition {
        ErrorCondition::AmqpError(e) => Symbol::from(e).into_inner(),
        ErrorCondition::LinkError(e) => Symbol::from(e).into_inner(),
        ErrorCondition::ConnectionError(e) => Symbol::from(e).into_inner(),
        ErrorCondition::SessionError(e) => Symbol::from(e).into_inner(),
        ErrorCondition::Custom(s) => s.as_str().to_owned(),
    }
}

/// Session and (optionally) link flow state.
#[derive(Debug, Clone, Copy)]
pub struct FlowState {
    /// Session next-incoming-id.
    pub next_incoming_id: u32,
    /// Session incoming-window.
    pub incoming_window: u32,
    /// Session next-outgoing-id.
    pub next_outgoing_id: u32,
    /// Session outgoing-window.
    pub outgoing_window: u32,
}

/// A flow; `link` = (handle, delivery-count, link-credit, drain).
pub fn flow(state: FlowState, link: Option<(u32, u32, u32, bool)>) -> Flow {
    Flow {
        next_incoming_id: Some(state.next_incoming_id),
        incoming_window: state.incoming_window,
        next_outgoing_id: state.next_outgoing_id,
        outgoing_window: state.outgoing_window,
        handle: link.map(|l| Handle(l.0)),
        delivery_count: link.map(|l| l.1),
        link_credit: link.map(|l| l.2),
        available: None,
        drain: link.is_some_and(|l| l.3),
        echo: false,
        properties: None,
    }
}

/// A transfer frame; `first` carries (delivery-id, tag, settled) on a delivery's first frame.
pub fn transfer(handle: u32, first: Option<(u32, Vec<u8>, bool)>, more: bool) -> Transfer {
    let (delivery_id, delivery_tag, settled) = match first {
        Some((id, tag, settled)) => (Some(id), Some(ByteBuf::from(tag)), Some(settled)),
        None => (None, None, None),
    };
    Transfer {
        handle: Handle(handle),
        delivery_id,
        delivery_tag,
        message_format: delivery_id.map(|_| 0),
        settled,
        more,
        rcv_settle_mode: None,
        state: None,
        resume: false,
        aborted: false,
        batchable: false,
    }
}

/// A settled disposition for one delivery.
pub fn disposition(role: Role, id: u32, state: DeliveryState) -> Disposition {
    disposition_range(role, id, id, state)
}

/// A settled disposition of deliveries `first..=last`.
pub fn disposition_range(role: Role, first: u32, last: u32, state: DeliveryState) -> Disposition {
    Disposition {
        role,
        first,
        last: (last != first).then_some(last),
        settled: true,
        state: Some(state),
        batchable: false,
    }
}

/// A closing detach, optionally with an error.
pub fn detach(handle: u32, closed: bool, error: Option<Error>) -> Detach {
    Detach {
        handle: Handle(handle),
        closed,
        error,
    }
}
