//! Entity runtime information: `GET https://{namespace}/{entity}?api-version=2021-05` answers an
//! Atom `<entry>` whose `content` holds the entity description; its `CountDetails` carry the
//! message counts. An entity that does not exist comes back as an empty Atom `<feed>`.
//!
//! Microsoft documents this read ("Get Entity") as needing Manage rights: with Entra ID, the
//! "Azure Service Bus Data Owner" role on the entity.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::{API_VERSION, ServiceBusClient, ServiceBusError};

/// The message counts of a queue (or subscription).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityCounts {
    /// `ActiveMessageCount`: messages available or locked for processing.
    pub active: u64,
    /// `DeadLetterMessageCount`.
    pub dead_letter: u64,
    /// `ScheduledMessageCount`.
    pub scheduled: u64,
}

impl ServiceBusClient {
    /// The counts of `entity` (a queue name).
    pub async fn entity_counts(&self, entity: &str) -> Result<EntityCounts, ServiceBusError> {
        let path = format!("{entity}?api-version={API_VERSION}");
        let answer = self.call(reqwest::Method::GET, &path, &[], None).await?;
        let (status, body) = (answer.status, answer.body);
        match status {
            200 => parse_counts(&body, entity),
            404 => Err(ServiceBusError::NotFound(entity.to_owned())),
            status => Err(crate::unexpected(status, &body)),
        }
    }
}

/// Read `CountDetails` from an entity's Atom document. Element prefixes vary (`d2p1:`), so only
/// local names are compared.
pub fn parse_counts(xml: &str, entity: &str) -> Result<EntityCounts, ServiceBusError> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut counts = EntityCounts::default();
    let (mut root, mut seen_details, mut seen_active) = (None, false, false);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                root.get_or_insert_with(|| name.clone());
                seen_details |= name == "CountDetails";
                path.push(name);
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                root.get_or_insert(name);
            }
            Ok(Event::End(_)) => {
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let in_details = path.len() >= 2 && path[path.len() - 2] == "CountDetails";
                let Some(field) = path.last().filter(|_| in_details) else {
                    continue;
                };
                let text = String::from_utf8_lossy(t.as_ref()).trim().to_owned();
                let slot = match field.as_str() {
                    "ActiveMessageCount" => {
                        seen_active = true;
                        &mut counts.active
                    }
                    "DeadLetterMessageCount" => &mut counts.dead_letter,
                    "ScheduledMessageCount" => &mut counts.scheduled,
                    _ => continue,
                };
                *slot = text.parse().map_err(|_| {
                    ServiceBusError::Malformed(format!("{field} is not a count: {text:?}"))
                })?;
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(ServiceBusError::Malformed(e.to_string())),
        }
    }
    match root.as_deref() {
        Some("feed") if !seen_details => Err(ServiceBusError::NotFound(entity.to_owned())),
        Some("entry") if seen_active => Ok(counts),
        Some("entry") => Err(ServiceBusError::Malformed(
            "the entry has no CountDetails/ActiveMessageCount".into(),
        )),
        other => Err(ServiceBusError::Malformed(format!(
            "expected an Atom entry, found {}",
            other.unwrap_or("nothing")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<entry xmlns="http://www.w3.org/2005/Atom"><id>https://ns.servicebus.windows.net/jobs?api-version=2021-05</id><title type="text">jobs</title>
<content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
<LockDuration>PT1M</LockDuration><MaxDeliveryCount>10</MaxDeliveryCount><MessageCount>12</MessageCount>
<CountDetails xmlns:d2p1="http://schemas.microsoft.com/netservices/2011/06/servicebus">
<d2p1:ActiveMessageCount>7</d2p1:ActiveMessageCount><d2p1:DeadLetterMessageCount>3</d2p1:DeadLetterMessageCount>
<d2p1:ScheduledMessageCount>2</d2p1:ScheduledMessageCount><d2p1:TransferMessageCount>0</d2p1:TransferMessageCount>
</CountDetails><AuthorizationRules/></QueueDescription></content></entry>"#;

    #[test]
    fn reads_count_details() {
        assert_eq!(
            parse_counts(ENTRY, "jobs").unwrap(),
            EntityCounts {
                active: 7,
                dead_letter: 3,
                scheduled: 2
            }
        );
    }

    #[test]
    fn an_empty_feed_is_a_missing_entity() {
        let feed = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">Publicly Listed Services</title><id>uuid:1</id><updated>2026-11-25T00:00:00Z</updated></feed>"#;
        assert!(matches!(
            parse_counts(feed, "nope"),
            Err(ServiceBusError::NotFound(e)) if e == "nope"
        ));
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [
            "",
            "not xml <",
            "<entry></entry>",
            "<html><body>hi</body></html>",
            &ENTRY.replace(">7<", ">seven<"),
        ] {
            assert!(
                matches!(
                    parse_counts(bad, "jobs"),
                    Err(ServiceBusError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }
}
