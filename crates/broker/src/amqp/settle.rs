//! Settlement of the deliveries the server sent: the client's `disposition`, mapped to the
//! store's settlements as Service Bus does (docs/research/amqp-wire.md, "Settlement").
//!
//! Dispositions are decoded leniently, from a generic value: rhea (the JS SDK) writes the
//! rejected outcome's `info` and the modified outcome's `message-annotations` with string keys,
//! which the typed `Fields` (symbol keys) of fe2o3-amqp-types refuses.

use std::collections::HashMap;

use fe2o3_amqp_types::definitions::Role;
use fe2o3_amqp_types::messaging::{Accepted, DeliveryState, Modified, Rejected, Released};
use fe2o3_amqp_types::primitives::Value;
use serde_amqp::descriptor::Descriptor;

use crate::amqp::backend::{Backend, BackendError, Settlement};
use crate::amqp::codec::CodecError;
use crate::amqp::connection::Conn;
use crate::amqp::frames::{self, condition, custom_error};
use crate::amqp::settler::Settling;

/// Descriptor code of the `disposition` performative.
pub const DISPOSITION: u64 = 0x15;

/// A client's outcome for a delivery.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Accepted,
    Released,
    Modified {
        failed: bool,
        undeliverable_here: bool,
    },
    Rejected {
        condition: Option<String>,
        description: Option<String>,
        info: HashMap<String, String>,
    },
    /// `received` or an unknown state: not terminal.
    Other,
}

/// The fields of a disposition the server needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientDisposition {
    /// `role = receiver`: the client settles deliveries the server sent.
    pub from_receiver: bool,
    pub first: u32,
    pub last: Option<u32>,
    pub settled: bool,
    pub outcome: Option<Outcome>,
}

fn described(value: &Value) -> Option<(u64, &Value)> {
    let Value::Described(d) = value else {
        return None;
    };
    let code = match &d.descriptor {
        Descriptor::Code(c) => *c,
        Descriptor::Name(n) => match n.as_str() {
            "amqp:accepted:list" => 0x24,
            "amqp:rejected:list" => 0x25,
            "amqp:released:list" => 0x26,
            "amqp:modified:list" => 0x27,
            "amqp:error:list" => 0x1d,
            "amqp:disposition:list" => DISPOSITION,
            _ => return None,
        },
    };
    Some((code, &d.value))
}

fn fields(value: &Value) -> &[Value] {
    match value {
        Value::List(l) => l,
        _ => &[],
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn flag(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
}

fn uint(value: Option<&Value>) -> Option<u32> {
    match value? {
        Value::Uint(n) => Some(*n),
        Value::Ubyte(n) => Some((*n).into()),
        Value::Ushort(n) => Some((*n).into()),
        _ => None,
    }
}

fn outcome(value: &Value) -> Option<Outcome> {
    let (code, list) = described(value)?;
    let f = fields(list);
    Some(match code {
        0x24 => Outcome::Accepted,
        0x26 => Outcome::Released,
        0x27 => Outcome::Modified {
            failed: flag(f.first()),
            undeliverable_here: flag(f.get(1)),
        },
        0x25 => {
            let error = f
                .first()
                .and_then(described)
                .map(|(_, e)| fields(e))
                .unwrap_or(&[]);
            let mut info = HashMap::new();
            if let Some(Value::Map(map)) = error.get(2) {
                for (k, v) in map.iter() {
                    if let (Some(k), Some(v)) = (text(Some(k)), text(Some(v))) {
                        info.insert(k, v);
                    }
                }
            }
            Outcome::Rejected {
                condition: text(error.first()),
                description: text(error.get(1)),
                info,
            }
        }
        _ => Outcome::Other,
    })
}

/// Decode a disposition frame body.
pub(crate) fn decode(body: &[u8]) -> Result<ClientDisposition, CodecError> {
    let value: Value = serde_amqp::from_slice(body)?;
    let (code, list) = described(&value).ok_or(CodecError::Malformed("disposition"))?;
    if code != DISPOSITION {
        return Err(CodecError::Malformed("disposition"));
    }
    let f = fields(list);
    Ok(ClientDisposition {
        from_receiver: flag(f.first()),
        first: uint(f.get(1)).ok_or(CodecError::Malformed("disposition first"))?,
        last: uint(f.get(2)),
        settled: flag(f.get(3)),
        outcome: f.get(4).and_then(outcome),
    })
}

/// What the store does for an outcome; `None` for a non-terminal state.
fn settlement(outcome: &Outcome) -> Option<Settlement> {
    Some(match outcome {
        Outcome::Accepted => Settlement::Complete,
        // Released does not count a delivery (Service Bus team, Azure/amqpnetlite#342).
        Outcome::Released => Settlement::Abandon { failed: false },
        Outcome::Modified {
            undeliverable_here: true,
            ..
        } => Settlement::Defer,
        // The JS SDK abandons with modified{undeliverable-here=false} and no delivery-failed.
        Outcome::Modified { .. } => Settlement::Abandon { failed: true },
        Outcome::Rejected {
            condition: Some(c),
            description,
            info,
        } if c == condition::DEAD_LETTER => Settlement::DeadLetter {
            reason: info.get("DeadLetterReason").cloned(),
            description: info
                .get("DeadLetterErrorDescription")
                .cloned()
                .or_else(|| description.clone()),
        },
        Outcome::Rejected { .. } => Settlement::Abandon { failed: true },
        Outcome::Other => return None,
    })
}

/// The state echoed back for an applied outcome: the same outcome, a rejected one without an
/// error (an error would mean failure: `azure/servicebus/_pyamqp/receiver.py
/// check_disposition_outcome`).
fn echo(outcome: Option<&Outcome>) -> DeliveryState {
    match outcome {
        Some(Outcome::Accepted) => DeliveryState::Accepted(Accepted {}),
        Some(Outcome::Modified {
            failed,
            undeliverable_here,
        }) => DeliveryState::Modified(Modified {
            delivery_failed: Some(*failed),
            undeliverable_here: Some(*undeliverable_here),
            message_annotations: None,
        }),
        Some(Outcome::Rejected { .. }) => DeliveryState::Rejected(Rejected { error: None }),
        _ => DeliveryState::Released(Released {}),
    }
}

impl<B: Backend> Conn<B> {
    pub(crate) async fn on_disposition(
        &mut self,
        channel: u16,
        d: ClientDisposition,
    ) -> Result<(), CodecError> {
        if !d.from_receiver {
            return Ok(()); // the client settling transfers it sent: nothing to do
        }
        let last = d.last.unwrap_or(d.first);
        let mut id = d.first;
        loop {
            let entry = self
                .sessions
                .get_mut(&channel)
                .and_then(|s| s.unsettled.remove(&id));
            // Settled without a terminal outcome: unlock without counting, as released.
            let wanted = d
                .outcome
                .as_ref()
                .and_then(settlement)
                .unwrap_or(Settlement::Abandon { failed: false });
            match entry {
                // Stored by the settler, which answers once the store holds it (`settler`).
                Some(u) => self.queue_settle(Settling {
                    channel,
                    delivery_id: id,
                    entity: u.entity,
                    lock_token: u.lock_token,
                    wanted,
                    reply: (!d.settled).then(|| echo(d.outcome.as_ref())),
                }),
                None if !d.settled => {
                    let error = custom_error(
                        condition::MESSAGE_LOCK_LOST,
                        BackendError::LockLost.to_string(),
                    );
                    let state = DeliveryState::Rejected(Rejected { error: Some(error) });
                    self.send(channel, &frames::disposition(Role::Sender, id, state), &[])?;
                }
                None => {}
            }
            if id == last {
                break;
            }
            id = id.wrapping_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_keyed_info_is_read() {
        // disposition(role=receiver, first=2, settled=false, rejected(error(dead-letter, "d",
        // {"DeadLetterReason": "r"}))) with a string-keyed info map, as rhea writes it.
        let mut info = serde_amqp::primitives::OrderedMap::new();
        info.insert(
            Value::String("DeadLetterReason".into()),
            Value::String("r".into()),
        );
        let error = Value::Described(Box::new(serde_amqp::described::Described {
            descriptor: Descriptor::Code(0x1d),
            value: Value::List(vec![
                Value::Symbol("com.microsoft:dead-letter".into()),
                Value::String("d".into()),
                Value::Map(info),
            ]),
        }));
        let rejected = Value::Described(Box::new(serde_amqp::described::Described {
            descriptor: Descriptor::Code(0x25),
            value: Value::List(vec![error]),
        }));
        let disposition = Value::Described(Box::new(serde_amqp::described::Described {
            descriptor: Descriptor::Code(DISPOSITION),
            value: Value::List(vec![
                Value::Bool(true),
                Value::Uint(2),
                Value::Null,
                Value::Bool(false),
                rejected,
            ]),
        }));
        let bytes = serde_amqp::to_vec(&disposition).unwrap();
        let d = decode(&bytes).unwrap();
        assert!(d.from_receiver && !d.settled && d.first == 2 && d.last.is_none());
        let s = settlement(d.outcome.as_ref().unwrap()).unwrap();
        assert_eq!(
            s,
            Settlement::DeadLetter {
                reason: Some("r".into()),
                description: Some("d".into())
            }
        );
    }
}
