//! Messages on the wire: cutting a received payload into its sections (AMQP spec part 3.2),
//! Service Bus batches (message format `0x80013700`), and the encoding of a delivery with the
//! broker's annotations (MS guide "Message annotations"; see /work/notes/amqp.md §1).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, TimeZone, Utc};
use fe2o3_amqp_types::messaging::annotations::OwnedKey;
use fe2o3_amqp_types::messaging::{
    AmqpValue, ApplicationProperties, Data, DeliveryAnnotations, Header, MessageAnnotations,
    MessageId, Properties,
};
use fe2o3_amqp_types::primitives::{
    OrderedMap, SimpleValue, Symbol, Timestamp, Uuid as AmqpUuid, Value,
};
use uuid::Uuid;

use crate::amqp::backend::{NewMessage, StoredMessage};
use crate::amqp::codec::{CodecError, descriptor_code, value_len};

/// Message format code of a Service Bus batch: each `data` section holds one whole message
/// (`azure/servicebus/_pyamqp/message.py BatchMessage`, `_pyamqp/utils.py add_batch`).
pub const BATCH_FORMAT: u32 = 0x8001_3700;

const HEADER: u64 = 0x70;
const DELIVERY_ANNOTATIONS: u64 = 0x71;
const MESSAGE_ANNOTATIONS: u64 = 0x72;
const PROPERTIES: u64 = 0x73;
const APPLICATION_PROPERTIES: u64 = 0x74;
const DATA: u64 = 0x75;
const AMQP_VALUE: u64 = 0x77;
const FOOTER: u64 = 0x78;

/// Annotation keys Service Bus uses (`azure/servicebus/_common/constants.py`).
pub mod keys {
    /// Sender-set enqueue time.
    pub const SCHEDULED_ENQUEUE_TIME: &str = "x-opt-scheduled-enqueue-time";
    /// Sender-set partition key.
    pub const PARTITION_KEY: &str = "x-opt-partition-key";
    /// Broker-set enqueue time.
    pub const ENQUEUED_TIME: &str = "x-opt-enqueued-time";
    /// Broker-set sequence number.
    pub const SEQUENCE_NUMBER: &str = "x-opt-sequence-number";
    /// Broker-set lock expiry.
    pub const LOCKED_UNTIL: &str = "x-opt-locked-until";
    /// Broker-set lock token (delivery annotation).
    pub const LOCK_TOKEN: &str = "x-opt-lock-token";
    /// Broker-set source queue of a dead-lettered message.
    pub const DEADLETTER_SOURCE: &str = "x-opt-deadletter-source";
}

/// A received message cut into sections.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Header section.
    pub header: Option<Header>,
    /// Message annotations, raw and decoded.
    pub annotations: Option<(Bytes, MessageAnnotations)>,
    /// Properties section.
    pub properties: Option<Properties>,
    /// Application properties section.
    pub application_properties: Option<ApplicationProperties>,
    /// Raw `data` sections' binaries (for batches).
    pub data: Vec<Bytes>,
    /// The `amqp-value` body, decoded.
    pub value: Option<Value>,
    /// The bare message sections, encoded, concatenated.
    pub bare: Bytes,
    /// Whole encoded size.
    pub size: usize,
}

/// Cut an encoded message into its sections.
pub fn parse(payload: &Bytes) -> Result<Parsed, CodecError> {
    let mut parsed = Parsed {
        size: payload.len(),
        ..Default::default()
    };
    let mut bare = BytesMut::new();
    let mut at = 0;
    while at < payload.len() {
        let len = value_len(&payload[at..])?;
        let raw = payload.slice(at..at + len);
        at += len;
        match descriptor_code(&raw).ok_or(CodecError::Malformed("message section"))? {
            HEADER => parsed.header = Some(serde_amqp::from_slice(&raw)?),
            DELIVERY_ANNOTATIONS | FOOTER => {}
            MESSAGE_ANNOTATIONS => {
                let decoded = serde_amqp::from_slice(&raw)?;
                parsed.annotations = Some((raw, decoded));
            }
            code @ (PROPERTIES..=0x77) => {
                match code {
                    PROPERTIES => parsed.properties = Some(serde_amqp::from_slice(&raw)?),
                    APPLICATION_PROPERTIES => {
                        parsed.application_properties = Some(serde_amqp::from_slice(&raw)?)
                    }
                    AMQP_VALUE => {
                        let value: AmqpValue<Value> = serde_amqp::from_slice(&raw)?;
                        parsed.value = Some(value.0);
                    }
                    DATA => {
                        let data: Data = serde_amqp::from_slice(&raw)?;
                        parsed.data.push(Bytes::from(data.0.into_vec()));
                    }
                    _ => {}
                }
                bare.put_slice(&raw);
            }
            _ => return Err(CodecError::Malformed("unknown message section")),
        }
    }
    parsed.bare = bare.freeze();
    Ok(parsed)
}

/// Text form of a message id as Service Bus shows it.
pub fn message_id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => Uuid::from_bytes(*u.as_inner()).to_string(),
        MessageId::Binary(b) => b.iter().map(|x| format!("{x:02X}")).collect(),
    }
}

fn annotation<'a>(parsed: &'a Parsed, key: &str) -> Option<&'a Value> {
    let (_, map) = parsed.annotations.as_ref()?;
    map.0.get(&OwnedKey::Symbol(Symbol::from(key)))
}

fn timestamp_to_utc(ts: &Timestamp) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ts.milliseconds()).single()
}

/// The bare message with `properties.message-id` set (the properties section rewritten or
/// added in front), for messages sent without one: Service Bus gives every message an id.
fn with_message_id(parsed: &mut Parsed, id: &str) -> Result<(), CodecError> {
    let mut props = parsed
        .properties
        .clone()
        .unwrap_or_else(|| Properties::builder().build());
    props.message_id = Some(MessageId::String(id.to_owned()));
    let mut out = BytesMut::new();
    out.put_slice(&serde_amqp::to_vec(&props)?);
    let bare = &parsed.bare;
    let mut at = 0;
    while at < bare.len() {
        let len = value_len(&bare[at..])?;
        if descriptor_code(&bare[at..]) != Some(PROPERTIES) {
            out.put_slice(&bare[at..at + len]);
        }
        at += len;
    }
    parsed.size = parsed.size + out.len() - bare.len();
    parsed.bare = out.freeze();
    parsed.properties = Some(props);
    Ok(())
}

/// The storable form of a parsed message; one without a message id gets one (a GUID in
/// Service Bus's 32-hex-digit form).
pub fn to_new_message(mut parsed: Parsed) -> Result<NewMessage, CodecError> {
    let generated_id = parsed
        .properties
        .as_ref()
        .and_then(|p| p.message_id.as_ref())
        .is_none();
    if generated_id {
        with_message_id(&mut parsed, &Uuid::new_v4().simple().to_string())?;
    }
    let properties = parsed.properties.as_ref();
    let partition_key = match annotation(&parsed, keys::PARTITION_KEY) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let scheduled_enqueue_time = match annotation(&parsed, keys::SCHEDULED_ENQUEUE_TIME) {
        Some(Value::Timestamp(ts)) => timestamp_to_utc(ts),
        _ => None,
    };
    Ok(NewMessage {
        message_id: properties
            .and_then(|p| p.message_id.as_ref())
            .map(message_id_text),
        generated_id,
        session_id: properties.and_then(|p| p.group_id.clone()),
        partition_key,
        time_to_live: parsed
            .header
            .as_ref()
            .and_then(|h| h.ttl)
            .map(|ms| Duration::from_millis(ms.into())),
        scheduled_enqueue_time,
        annotations: parsed.annotations.map(|(raw, _)| raw),
        bare: parsed.bare,
        size: parsed.size,
    })
}

/// The messages a transfer carries: one, or each `data` section of a batch.
pub fn messages_of_transfer(format: u32, payload: &Bytes) -> Result<Vec<NewMessage>, CodecError> {
    let outer = parse(payload)?;
    if format != BATCH_FORMAT {
        return Ok(vec![to_new_message(outer)?]);
    }
    outer
        .data
        .iter()
        .map(|inner| parse(inner).and_then(to_new_message))
        .collect()
}

/// The header with every field written, `delivery-count` included even when zero (the
/// derive in fe2o3-amqp-types would drop trailing default fields).
fn encode_header(out: &mut BytesMut, ttl: Option<Duration>, delivery_count: u32) {
    let mut fields = BytesMut::new();
    fields.put_u8(0x42); // durable false
    fields.put_slice(&[0x50, 4]); // priority 4
    match ttl.and_then(|t| u32::try_from(t.as_millis()).ok()) {
        Some(ms) => {
            fields.put_u8(0x70);
            fields.put_u32(ms);
        }
        None => fields.put_u8(0x40),
    }
    fields.put_u8(0x42); // first-acquirer false
    fields.put_u8(0x70);
    fields.put_u32(delivery_count);
    out.put_slice(&[0x00, 0x53, HEADER as u8, 0xc0]);
    out.put_u8(fields.len() as u8 + 1);
    out.put_u8(5);
    out.put_slice(&fields);
}

fn key(k: &str) -> OwnedKey {
    OwnedKey::Symbol(Symbol::from(k))
}

/// Lock information of a delivery.
#[derive(Debug, Clone, Copy)]
pub struct Lock {
    /// Lock token.
    pub token: Uuid,
    /// Lock expiry.
    pub until: DateTime<Utc>,
}

/// Encode a stored message for delivery (or for a peek / receive-by-sequence-number answer).
pub fn encode_delivery(message: &StoredMessage, lock: Option<Lock>) -> Result<Bytes, CodecError> {
    let mut out = BytesMut::new();
    encode_header(&mut out, message.new.time_to_live, message.delivery_count);
    if let Some(lock) = lock {
        let mut map = OrderedMap::new();
        map.insert(
            key(keys::LOCK_TOKEN),
            Value::Uuid(AmqpUuid::from(*lock.token.as_bytes())),
        );
        out.put_slice(&serde_amqp::to_vec(&DeliveryAnnotations(map))?);
    }
    let mut annotations = match &message.new.annotations {
        Some(raw) => serde_amqp::from_slice::<MessageAnnotations>(raw)?.0,
        None => OrderedMap::new(),
    };
    let enqueued = Timestamp::from_milliseconds(message.enqueued_at.timestamp_millis());
    annotations.insert(key(keys::ENQUEUED_TIME), Value::Timestamp(enqueued));
    annotations.insert(
        key(keys::SEQUENCE_NUMBER),
        Value::Long(message.sequence_number),
    );
    if let Some(lock) = lock {
        let until = Timestamp::from_milliseconds(lock.until.timestamp_millis());
        annotations.insert(key(keys::LOCKED_UNTIL), Value::Timestamp(until));
    }
    if let Some(source) = &message.dead_letter_source {
        annotations.insert(key(keys::DEADLETTER_SOURCE), Value::String(source.clone()));
    }
    out.put_slice(&serde_amqp::to_vec(&MessageAnnotations(annotations))?);
    if message.dead_letter_reason.is_none() && message.dead_letter_description.is_none() {
        out.put_slice(&message.new.bare);
    } else {
        put_bare_with_dead_letter(&mut out, message)?;
    }
    Ok(out.freeze())
}

/// The bare message with `DeadLetterReason` / `DeadLetterErrorDescription` application
/// properties added (where Service Bus reports them).
fn put_bare_with_dead_letter(
    out: &mut BytesMut,
    message: &StoredMessage,
) -> Result<(), CodecError> {
    let bare = &message.new.bare;
    let mut sections = Vec::new();
    let mut at = 0;
    while at < bare.len() {
        let len = value_len(&bare[at..])?;
        sections.push(bare.slice(at..at + len));
        at += len;
    }
    let mut props = OrderedMap::new();
    let mut insert_at = sections.len();
    for (i, s) in sections.iter().enumerate() {
        match descriptor_code(s) {
            Some(APPLICATION_PROPERTIES) => {
                props = serde_amqp::from_slice::<ApplicationProperties>(s)?.0;
                insert_at = i;
            }
            Some(PROPERTIES) => insert_at = insert_at.min(i + 1),
            Some(_) if insert_at == sections.len() => insert_at = i,
            _ => {}
        }
    }
    if let Some(reason) = &message.dead_letter_reason {
        props.insert(
            "DeadLetterReason".to_owned(),
            SimpleValue::String(reason.clone()),
        );
    }
    if let Some(description) = &message.dead_letter_description {
        props.insert(
            "DeadLetterErrorDescription".to_owned(),
            SimpleValue::String(description.clone()),
        );
    }
    let encoded = Bytes::from(serde_amqp::to_vec(&ApplicationProperties(props))?);
    let replaces = sections
        .get(insert_at)
        .is_some_and(|s| descriptor_code(s) == Some(APPLICATION_PROPERTIES));
    for (i, s) in sections.iter().enumerate() {
        if i == insert_at {
            out.put_slice(&encoded);
            if replaces {
                continue;
            }
        }
        out.put_slice(s);
    }
    if insert_at == sections.len() {
        out.put_slice(&encoded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::Body;

    fn sample() -> Bytes {
        let mut out = BytesMut::new();
        let props = Properties::builder()
            .message_id(String::from("m-1"))
            .group_id(Some(String::from("s")))
            .build();
        out.put_slice(&serde_amqp::to_vec(&props).unwrap());
        let data = Data(serde_bytes::ByteBuf::from(b"hello".to_vec()));
        out.put_slice(&serde_amqp::to_vec(&data).unwrap());
        out.freeze()
    }

    #[test]
    fn parse_extracts_fields_and_keeps_bare_bytes() {
        let payload = sample();
        let new = to_new_message(parse(&payload).unwrap()).unwrap();
        assert_eq!(new.message_id.as_deref(), Some("m-1"));
        assert_eq!(new.session_id.as_deref(), Some("s"));
        assert_eq!(new.bare, payload);
        let _ = Body::<Value>::Empty;
    }

    #[test]
    fn a_message_without_id_gets_one() {
        let data = Data(serde_bytes::ByteBuf::from(b"x".to_vec()));
        let payload = Bytes::from(serde_amqp::to_vec(&data).unwrap());
        let new = to_new_message(parse(&payload).unwrap()).unwrap();
        let id = new.message_id.clone().unwrap();
        assert_eq!(id.len(), 32);
        let again = parse(&new.bare).unwrap();
        assert_eq!(
            again.properties.unwrap().message_id,
            Some(MessageId::String(id))
        );
        assert_eq!(again.data, vec![Bytes::from_static(b"x")]);
        assert_eq!(new.size, payload.len() + new.bare.len() - payload.len());
    }

    #[test]
    fn delivery_header_always_has_delivery_count() {
        let stored = StoredMessage {
            new: to_new_message(parse(&sample()).unwrap()).unwrap(),
            sequence_number: 5,
            enqueued_at: Utc::now(),
            expires_at: Utc::now(),
            delivery_count: 0,
            dead_letter_source: Some("q".into()),
            dead_letter_reason: Some("why".into()),
            dead_letter_description: None,
        };
        let encoded = encode_delivery(&stored, None).unwrap();
        // described header list with 5 fields, the last a 4-byte uint 0
        assert_eq!(&encoded[..6], &[0x00, 0x53, 0x70, 0xc0, 11, 5]);
        let again = parse(&encoded).unwrap();
        let app = again.application_properties.unwrap();
        assert_eq!(
            app.0.get("DeadLetterReason"),
            Some(&SimpleValue::String("why".into()))
        );
        assert!(again.header.is_some());
    }
}
