//! Request/response nodes: `$cbs` put-token (MS guide "Claims-based authorization") and
//! `<entity>/$management` operations ("AMQP request-response operations"; request and
//! response shapes as the Python SDK builds and parses them, see /work/notes/amqp.md §1).

use bytes::{BufMut, Bytes, BytesMut};
use chrono::Utc;
use fe2o3_amqp_types::definitions::{AmqpError, Error};
use fe2o3_amqp_types::messaging::{AmqpValue, ApplicationProperties, MessageId, Properties};
use fe2o3_amqp_types::primitives::{
    Array, OrderedMap, SimpleValue, Timestamp, Uuid as AmqpUuid, Value,
};
use serde_bytes::ByteBuf;
use uuid::Uuid;

use crate::amqp::backend::{Backend, Entity, ReceiveMode, Settlement};
use crate::amqp::connection::Conn;
use crate::amqp::frames::{amqp_error, backend_error, condition, condition_text, custom_error};
use crate::amqp::link::Kind;
use crate::amqp::message::{self, Lock, Parsed};
use crate::amqp::sas::{self, Claim};

/// The SAS token type (`servicebus.windows.net:sastoken`).
const SAS_TOKEN_TYPE: &str = "servicebus.windows.net:sastoken";

/// The claim a `$management` operation needs: scheduling is sending, the rest (renew, peek,
/// receive deferred, settle by lock token) is receiving.
fn operation_claim(operation: &str) -> Claim {
    match operation {
        "com.microsoft:schedule-message" | "com.microsoft:cancel-scheduled-message" => Claim::Send,
        _ => Claim::Listen,
    }
}

fn app_str(parsed: &Parsed, key: &str) -> Option<String> {
    match parsed.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s.clone()),
        SimpleValue::Symbol(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn get<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let Some(Value::Map(map)) = value else {
        return None;
    };
    map.get(&Value::String(key.to_owned()))
        .or_else(|| map.get(&Value::Symbol(key.into())))
}

fn items(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(a)) => a.0.iter().collect(),
        Some(Value::List(l)) => l.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Long(n) => Some(*n),
        Value::Int(n) => Some((*n).into()),
        Value::Uint(n) => Some((*n).into()),
        Value::Ulong(n) => i64::try_from(*n).ok(),
        Value::Short(n) => Some((*n).into()),
        Value::Ushort(n) => Some((*n).into()),
        Value::Ubyte(n) => Some((*n).into()),
        Value::Byte(n) => Some((*n).into()),
        _ => None,
    }
}

fn as_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Symbol(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn argument(text: impl Into<String>) -> (Error, i32) {
    (custom_error(condition::ARGUMENT_ERROR, text), 400)
}

fn lock_tokens(body: Option<&Value>) -> Result<Vec<Uuid>, (Error, i32)> {
    items(get(body, "lock-tokens"))
        .into_iter()
        .map(|v| match v {
            Value::Uuid(u) => Ok(Uuid::from_bytes(*u.as_inner())),
            _ => Err(argument("lock-tokens must be an array of uuid")),
        })
        .collect()
}

fn sequence_numbers(body: Option<&Value>) -> Result<Vec<i64>, (Error, i32)> {
    items(get(body, "sequence-numbers"))
        .into_iter()
        .map(|v| as_i64(v).ok_or_else(|| argument("sequence-numbers must be an array of long")))
        .collect()
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = OrderedMap::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_owned()), v);
    }
    Value::Map(m)
}

/// A `200` answer whose body is the map of the one entry `key`: `items`, an AMQP array.
fn ok_array(key: &str, items: Vec<Value>) -> Outcome {
    Ok((
        200,
        Some(map(vec![(key, Value::Array(Array::from(items)))])),
    ))
}

fn binary(bytes: &Bytes) -> Value {
    Value::Binary(ByteBuf::from(bytes.to_vec()))
}

/// Encode a response message.
fn response(
    correlation: Option<MessageId>,
    fields: Vec<(&str, SimpleValue)>,
    body: Option<Value>,
) -> Result<Bytes, serde_amqp::Error> {
    let mut out = BytesMut::new();
    let mut props = Properties::builder().build();
    props.correlation_id = correlation;
    out.put_slice(&serde_amqp::to_vec(&props)?);
    let mut app = OrderedMap::new();
    for (k, v) in fields {
        app.insert(k.to_owned(), v);
    }
    out.put_slice(&serde_amqp::to_vec(&ApplicationProperties(app))?);
    out.put_slice(&serde_amqp::to_vec(&AmqpValue(
        body.unwrap_or(Value::Null),
    ))?);
    Ok(out.freeze())
}

type Outcome = Result<(i32, Option<Value>), (Error, i32)>;

impl<B: Backend> Conn<B> {
    /// Queue a response on the session's response link for the node and send it.
    async fn respond(
        &mut self,
        channel: u16,
        cbs: bool,
        entity: Option<&Entity>,
        reply_to: Option<&str>,
        payload: Bytes,
    ) -> Result<(), Error> {
        let Some(session) = self.sessions.get_mut(&channel) else {
            return Ok(());
        };
        let fits = |kind: &Kind| match (kind, entity) {
            (Kind::CbsResponses, _) => cbs,
            (Kind::MgmtResponses(e), Some(want)) => !cbs && e == want,
            _ => false,
        };
        let by_reply = reply_to.and_then(|r| {
            session.links.iter().find(|(_, l)| {
                fits(&l.kind) && (l.target_address.as_deref() == Some(r) || l.name == r)
            })
        });
        let handle = by_reply
            .or_else(|| session.links.iter().find(|(_, l)| fits(&l.kind)))
            .map(|(h, _)| *h);
        let Some(handle) = handle else {
            tracing::warn!(
                ?reply_to,
                "no response link for a request; response dropped"
            );
            return Err(amqp_error(
                AmqpError::PreconditionFailed,
                "attach a response link before sending requests",
            ));
        };
        if let Some(link) = session.links.get_mut(&handle) {
            link.pending.push_back(payload);
        }
        self.pump(channel, handle)
            .await
            .map_err(|e| amqp_error(AmqpError::InternalError, e.to_string()))
    }

    /// `$cbs` `put-token`: verify the SAS token and remember the grant for this connection.
    pub(crate) async fn on_cbs_request(&mut self, channel: u16, body: &Bytes) -> Result<(), Error> {
        let parsed =
            message::parse(body).map_err(|e| amqp_error(AmqpError::DecodeError, e.to_string()))?;
        let operation = app_str(&parsed, "operation");
        let token_type = app_str(&parsed, "type");
        let audience = app_str(&parsed, "name").unwrap_or_default();
        let token = match &parsed.value {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        // The token's form decides, not `type`: azure-servicebus 7.15 puts SAS tokens with
        // type "jwt" (seen on the wire), and Service Bus accepts them.
        let (code, description) = if operation.as_deref() != Some("put-token") {
            (
                400,
                format!("unsupported $cbs operation {operation:?}; only put-token is"),
            )
        } else if !token.starts_with("SharedAccessSignature ") {
            let kind = token_type.unwrap_or_default();
            (
                401,
                format!(
                    "InvalidToken: only SAS tokens ({SAS_TOKEN_TYPE}) are supported by the local Service Bus, not '{kind}' tokens (Microsoft Entra ID): connect with SharedAccessKeyName/SharedAccessKey"
                ),
            )
        } else {
            match sas::verify(self.config.keys(), &token, &audience, Utc::now()) {
                Ok(grant) => {
                    self.grants.retain(|g| g.path != grant.path);
                    self.grants.push(grant);
                    self.ever_authorized = true;
                    (202, "Accepted".to_owned())
                }
                Err(e) => {
                    tracing::info!(%audience, error = %e, "put-token refused");
                    (401, e.to_string())
                }
            }
        };
        let props = parsed.properties.as_ref();
        let fields = vec![
            ("status-code", SimpleValue::Int(code)),
            ("status-description", SimpleValue::String(description)),
        ];
        let payload = response(props.and_then(|p| p.message_id.clone()), fields, None)
            .map_err(|e| amqp_error(AmqpError::InternalError, e.to_string()))?;
        let reply_to = props.and_then(|p| p.reply_to.clone());
        self.respond(channel, true, None, reply_to.as_deref(), payload)
            .await
    }

    /// `<entity>/$management` operations.
    pub(crate) async fn on_mgmt_request(
        &mut self,
        channel: u16,
        entity: &Entity,
        body: &Bytes,
    ) -> Result<(), Error> {
        let parsed =
            message::parse(body).map_err(|e| amqp_error(AmqpError::DecodeError, e.to_string()))?;
        let operation = app_str(&parsed, "operation").unwrap_or_default();
        let claim = operation_claim(&operation);
        let outcome = if self.authorized_management(&entity.to_string(), claim) {
            self.management(entity, &operation, parsed.value.as_ref())
                .await
        } else {
            Err((Self::unauthorized(claim, &entity.to_string()), 401))
        };
        let fields = match &outcome {
            Ok((code, _)) => vec![
                ("statusCode", SimpleValue::Int(*code)),
                (
                    "statusDescription",
                    SimpleValue::String(if *code == 204 { "No Content" } else { "OK" }.to_owned()),
                ),
            ],
            Err((error, code)) => vec![
                ("statusCode", SimpleValue::Int(*code)),
                (
                    "statusDescription",
                    SimpleValue::String(error.description.clone().unwrap_or_default()),
                ),
                (
                    "errorCondition",
                    SimpleValue::Symbol(condition_text(error).into()),
                ),
            ],
        };
        let body = outcome.ok().and_then(|(_, b)| b);
        let props = parsed.properties.as_ref();
        let payload = response(props.and_then(|p| p.message_id.clone()), fields, body)
            .map_err(|e| amqp_error(AmqpError::InternalError, e.to_string()))?;
        let reply_to = props.and_then(|p| p.reply_to.clone());
        self.respond(channel, false, Some(entity), reply_to.as_deref(), payload)
            .await
    }

    async fn management(&self, entity: &Entity, operation: &str, body: Option<&Value>) -> Outcome {
        let backend = &self.backend;
        let store = |e: crate::amqp::backend::BackendError| backend_error(&e);
        match operation {
            "com.microsoft:renew-lock" => {
                let mut expirations = Vec::new();
                for token in lock_tokens(body)? {
                    let until = backend.renew_lock(entity, token).await.map_err(store)?;
                    expirations.push(Value::Timestamp(Timestamp::from_milliseconds(
                        until.timestamp_millis(),
                    )));
                }
                ok_array("expirations", expirations)
            }
            "com.microsoft:peek-message" => {
                let from = get(body, "from-sequence-number")
                    .and_then(as_i64)
                    .unwrap_or(0);
                let count = get(body, "message-count")
                    .and_then(as_i64)
                    .unwrap_or(1)
                    .clamp(0, 1000) as u32;
                let peeked = backend.peek(entity, from, count).await.map_err(store)?;
                if peeked.is_empty() {
                    return Ok((204, None));
                }
                let mut list = Vec::new();
                for m in &peeked {
                    let encoded =
                        message::encode_delivery(m, None).map_err(|e| argument(e.to_string()))?;
                    list.push(map(vec![("message", binary(&encoded))]));
                }
                Ok((200, Some(map(vec![("messages", Value::List(list))]))))
            }
            "com.microsoft:schedule-message" => {
                let queue = backend.queue(&entity.queue).await.map_err(store)?;
                let mut messages = Vec::new();
                for item in items(get(body, "messages")) {
                    let Some(Value::Binary(raw)) = get(Some(item), "message") else {
                        return Err(argument("each scheduled message needs a binary 'message'"));
                    };
                    let raw = Bytes::from(raw.to_vec());
                    if raw.len() > queue.max_message_size_kb as usize * 1024 {
                        return Err((
                            crate::amqp::frames::size_error(
                                "The scheduled message exceeds the queue's maximum message size.",
                            ),
                            403,
                        ));
                    }
                    let parsed = message::parse(&raw).map_err(|e| argument(e.to_string()))?;
                    messages.push(
                        message::to_new_message(parsed).map_err(|e| argument(e.to_string()))?,
                    );
                }
                let seqs = backend.send(&entity.queue, messages).await.map_err(store)?;
                ok_array(
                    "sequence-numbers",
                    seqs.into_iter().map(Value::Long).collect(),
                )
            }
            "com.microsoft:cancel-scheduled-message" => {
                backend
                    .cancel_scheduled(&entity.queue, sequence_numbers(body)?)
                    .await
                    .map_err(store)?;
                Ok((200, None))
            }
            "com.microsoft:receive-by-sequence-number" => {
                let mode = match get(body, "receiver-settle-mode").and_then(as_i64) {
                    Some(0) => ReceiveMode::ReceiveAndDelete,
                    _ => ReceiveMode::PeekLock,
                };
                let delivered = backend
                    .receive_deferred(entity, sequence_numbers(body)?, mode)
                    .await
                    .map_err(store)?;
                let mut list = Vec::new();
                for d in &delivered {
                    let lock = d
                        .lock_token
                        .zip(d.locked_until)
                        .map(|(token, until)| Lock { token, until });
                    let encoded = message::encode_delivery(&d.message, lock)
                        .map_err(|e| argument(e.to_string()))?;
                    let mut entries = vec![("message", binary(&encoded))];
                    if let Some(l) = lock {
                        entries.push((
                            "lock-token",
                            Value::Uuid(AmqpUuid::from(*l.token.as_bytes())),
                        ));
                    }
                    list.push(map(entries));
                }
                Ok((200, Some(map(vec![("messages", Value::List(list))]))))
            }
            "com.microsoft:update-disposition" => {
                let status = as_text(get(body, "disposition-status")).unwrap_or_default();
                let settlement = match status.as_str() {
                    "completed" => Settlement::Complete,
                    "abandoned" => Settlement::Abandon { failed: true },
                    "defered" => Settlement::Defer,
                    "suspended" => Settlement::DeadLetter {
                        reason: as_text(get(body, "deadletter-reason")),
                        description: as_text(get(body, "deadletter-description")),
                    },
                    other => return Err(argument(format!("unknown disposition-status '{other}'"))),
                };
                for token in lock_tokens(body)? {
                    backend
                        .settle(entity, token, settlement.clone())
                        .await
                        .map_err(store)?;
                }
                Ok((200, None))
            }
            other => Err((
                amqp_error(
                    AmqpError::NotImplemented,
                    format!(
                        "The management operation '{other}' is not supported by the local Service Bus."
                    ),
                ),
                501,
            )),
        }
    }
}
