//! One message, two front ends: the REST columns of a message sent over AMQP, and the AMQP form
//! of a message sent over REST.
//!
//! Service Bus maps the REST API's `BrokerProperties` and custom headers onto the same AMQP
//! message (Microsoft, "AMQP 1.0 in Azure Service Bus: request-response / message mapping" and
//! "Service Bus REST: Send Message"): `MessageId`, `ContentType` and `CorrelationId` are the AMQP
//! properties of those names, custom properties are application properties, and a REST body is
//! one `data` section. A REST receiver of an AMQP message sees its `data` sections (or a string
//! `amqp-value`) as the body text.

use bytes::{BufMut, Bytes, BytesMut};
use fe2o3_amqp_types::messaging::{ApplicationProperties, Data, MessageId, Properties};
use fe2o3_amqp_types::primitives::{OrderedMap, SimpleValue, Symbol, Value};
use serde_json::{Map, Number, Value as Json};

use crate::amqp::backend::NewMessage;
use crate::amqp::codec::CodecError;
use crate::amqp::message::{self, message_id_text};
use crate::store;

/// The store's form of a message an AMQP sender gave, its REST columns filled in.
pub fn to_store(queue: &str, new: &NewMessage) -> Result<store::NewMessage, CodecError> {
    let parsed = message::parse(&new.bare)?;
    let props = parsed.properties.as_ref();
    let body = if parsed.data.is_empty() {
        match &parsed.value {
            Some(Value::String(s)) => s.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        }
    } else {
        let joined: Vec<u8> = parsed.data.iter().flat_map(|d| d.iter().copied()).collect();
        String::from_utf8_lossy(&joined).into_owned()
    };
    let properties = parsed
        .application_properties
        .as_ref()
        .map(|a| {
            a.0.iter()
                .map(|(k, v)| (k.clone(), simple_to_json(v)))
                .collect()
        })
        .unwrap_or_default();
    Ok(store::NewMessage {
        queue: queue.to_owned(),
        body,
        message_id: new.message_id.clone(),
        content_type: props
            .and_then(|p| p.content_type.as_ref())
            .map(|s| s.0.clone()),
        correlation_id: props
            .and_then(|p| p.correlation_id.as_ref())
            .map(message_id_text),
        properties,
        scheduled_for: new.scheduled_enqueue_time,
        time_to_live: new.time_to_live,
    })
}

/// The bare AMQP message of a message sent over REST: properties, application properties and
/// the body as one `data` section.
pub fn bare_of_rest(
    message_id: &str,
    content_type: Option<&str>,
    correlation_id: Option<&str>,
    properties: &Map<String, Json>,
    body: &str,
) -> Result<Bytes, CodecError> {
    let mut out = BytesMut::new();
    let props = Properties {
        message_id: Some(MessageId::String(message_id.to_owned())),
        content_type: content_type.map(Symbol::from),
        correlation_id: correlation_id.map(|c| MessageId::String(c.to_owned())),
        ..Properties::default()
    };
    out.put_slice(&serde_amqp::to_vec(&props)?);
    if !properties.is_empty() {
        let map: OrderedMap<String, SimpleValue> = properties
            .iter()
            .map(|(k, v)| (k.clone(), json_to_simple(v)))
            .collect();
        out.put_slice(&serde_amqp::to_vec(&ApplicationProperties(map))?);
    }
    let data = Data(serde_bytes::ByteBuf::from(body.as_bytes().to_vec()));
    out.put_slice(&serde_amqp::to_vec(&data)?);
    Ok(out.freeze())
}

fn simple_to_json(v: &SimpleValue) -> Json {
    match v {
        SimpleValue::Null => Json::Null,
        SimpleValue::Bool(b) => Json::Bool(*b),
        SimpleValue::Ubyte(n) => Json::from(*n),
        SimpleValue::Ushort(n) => Json::from(*n),
        SimpleValue::Uint(n) => Json::from(*n),
        SimpleValue::Ulong(n) => Json::from(*n),
        SimpleValue::Byte(n) => Json::from(*n),
        SimpleValue::Short(n) => Json::from(*n),
        SimpleValue::Int(n) => Json::from(*n),
        SimpleValue::Long(n) => Json::from(*n),
        SimpleValue::Float(f) => {
            Number::from_f64(f64::from(f.into_inner())).map_or(Json::Null, Json::Number)
        }
        SimpleValue::Double(f) => Number::from_f64(f.into_inner()).map_or(Json::Null, Json::Number),
        SimpleValue::String(s) => Json::String(s.clone()),
        SimpleValue::Symbol(s) => Json::String(s.0.clone()),
        other => Json::String(format!("{other:?}")),
    }
}

fn json_to_simple(v: &Json) -> SimpleValue {
    match v {
        Json::Null => SimpleValue::Null,
        Json::Bool(b) => SimpleValue::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => SimpleValue::Long(i),
            (None, Some(f)) => SimpleValue::Double(f.into()),
            _ => SimpleValue::String(n.to_string()),
        },
        Json::String(s) => SimpleValue::String(s.clone()),
        other => SimpleValue::String(other.to_string()),
    }
}
