//! The Atom documents of the entity API: a request's `QueueDescription` read with `quick-xml`
//! (namespaces resolved, so `<QueueDescription xmlns=...>` and `<ns1:QueueDescription>` read
//! the same), and the entry, feed and `<Error>` answers written in the form Service Bus writes
//! them (the recorded answers in azure-sdk-for-python's
//! `tests/mgmt_tests/recordings/test_mgmt_queues.*.yaml`).

use std::fmt::Write as _;

use quick_xml::NsReader;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

/// The Atom namespace.
pub const ATOM: &str = "http://www.w3.org/2005/Atom";
/// The namespace of `QueueDescription` and its properties.
pub const CONNECT: &str = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
/// The namespace of the `CountDetails` children.
const COUNTS: &str = "http://schemas.microsoft.com/netservices/2011/06/servicebus";

/// One child element of a `QueueDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its text (entities resolved, surrounding white space trimmed).
    pub text: String,
    /// Whether it has child elements (`AuthorizationRules`, `CountDetails`).
    pub nested: bool,
}

/// A request body that is not an Atom entry holding a `QueueDescription`.
#[derive(Debug, thiserror::Error)]
#[error("the request body is not an Atom entry with a QueueDescription: {0}")]
pub struct BadXml(String);

fn bad(e: impl std::fmt::Display) -> BadXml {
    BadXml(e.to_string())
}

fn is(ns: &ResolveResult<'_>, uri: &str) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == uri.as_bytes())
}

/// The `QueueDescription` properties of an Atom `entry` (in document order, by local name).
pub fn parse_queue_description(body: &str) -> Result<Vec<(String, Field)>, BadXml> {
    let mut reader = NsReader::from_str(body);
    let mut depth = 0usize;
    // Depth at which the QueueDescription element opened, once seen.
    let mut description: Option<usize> = None;
    let mut fields: Vec<(String, Field)> = Vec::new();
    let mut root_seen = false;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(bad)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if !root_seen {
                    root_seen = true;
                    if local != "entry" || !is(&ns, ATOM) {
                        return Err(BadXml(format!(
                            "the root element is {local}, not an Atom entry"
                        )));
                    }
                } else if description.is_none() && local == "QueueDescription" && is(&ns, CONNECT) {
                    description = Some(depth);
                    if empty {
                        return Ok(fields);
                    }
                } else if let Some(at) = description {
                    if depth == at + 1 {
                        fields.push((
                            local,
                            Field {
                                text: String::new(),
                                nested: false,
                            },
                        ));
                    } else if let Some((_, f)) = fields.last_mut() {
                        f.nested = true;
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if description == Some(depth) {
                    return Ok(fields);
                }
                if let (Some(at), Some((_, f))) = (description, fields.last_mut())
                    && depth == at + 1
                {
                    f.text = f.text.trim().to_owned();
                }
            }
            Event::Text(t) => push_text(
                &mut fields,
                description,
                depth,
                &t.xml_content().map_err(bad)?,
            ),
            Event::CData(t) => {
                push_text(&mut fields, description, depth, &t.decode().map_err(bad)?)
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().map_err(bad)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(bad)?;
                        resolve_predefined_entity(&name)
                            .ok_or_else(|| BadXml(format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                push_text(&mut fields, description, depth, &text);
            }
            Event::Eof => {
                return Err(BadXml(if root_seen {
                    "no QueueDescription in the entry's content".into()
                } else {
                    "the body is empty".into()
                }));
            }
            _ => {}
        }
    }
}

fn push_text(fields: &mut [(String, Field)], description: Option<usize>, depth: usize, text: &str) {
    if let (Some(at), Some((_, f))) = (description, fields.last_mut())
        && depth == at + 2
    {
        f.text.push_str(text);
    }
}

/// What an entry says about its queue, beyond its properties.
pub struct EntryMeta<'a> {
    /// `https://host:port` as the client addressed the namespace.
    pub base: &'a str,
    /// The queue name.
    pub name: &'a str,
    /// `?api-version=...` to repeat in ids and links (may be empty).
    pub query: &'a str,
    /// `published` and `updated`.
    pub published: &'a str,
    /// `updated`.
    pub updated: &'a str,
    /// The namespace name (`author`).
    pub author: &'a str,
}

/// An Atom entry with `description` (the `QueueDescription` children, already XML) as content.
pub fn entry(meta: &EntryMeta<'_>, description: &str) -> String {
    let url = escape(format!("{}/{}{}", meta.base, meta.name, meta.query)).into_owned();
    format!(
        concat!(
            r#"<entry xmlns="{atom}"><id>{url}</id><title type="text">{name}</title>"#,
            r#"<published>{published}</published><updated>{updated}</updated><author><name>{author}</name></author>"#,
            r#"<link rel="self" href="{url}"/><content type="application/xml">"#,
            r#"<QueueDescription xmlns="{connect}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">{description}</QueueDescription>"#,
            r#"</content></entry>"#
        ),
        atom = ATOM,
        connect = CONNECT,
        url = url,
        name = escape(meta.name),
        published = meta.published,
        updated = meta.updated,
        author = escape(meta.author),
        description = description,
    )
}

/// An Atom feed of `entries` (each from [`entry`]); `next` is the URL of the next page, if any.
pub fn feed(
    title: &str,
    self_url: &str,
    next: Option<&str>,
    updated: &str,
    entries: &[String],
) -> String {
    let mut out = format!(
        r#"<feed xmlns="{ATOM}"><title type="text">{}</title><id>{}</id><updated>{updated}</updated><link rel="self" href="{}"/>"#,
        escape(title),
        escape(self_url),
        escape(self_url),
    );
    if let Some(next) = next {
        let _ = write!(out, r#"<link rel="next" href="{}"/>"#, escape(next));
    }
    for e in entries {
        out.push_str(e);
    }
    out.push_str("</feed>");
    out
}

/// What Service Bus answers for an entity that does not exist: an empty feed with `200`.
pub fn no_entity(updated: &str) -> String {
    format!(
        r#"<feed xmlns="{ATOM}"><title type="text">Publicly Listed Services</title><subtitle type="text">This is the list of publicly-listed services currently available.</subtitle><id>uuid:{};id=1</id><updated>{updated}</updated><generator>Service Bus 1.1</generator></feed>"#,
        uuid::Uuid::new_v4()
    )
}

/// A `CountDetails` element.
pub fn count_details(active: u64, dead: u64, scheduled: u64) -> String {
    format!(
        concat!(
            r#"<CountDetails xmlns:d2p1="{counts}"><d2p1:ActiveMessageCount>{a}</d2p1:ActiveMessageCount>"#,
            r#"<d2p1:DeadLetterMessageCount>{d}</d2p1:DeadLetterMessageCount><d2p1:ScheduledMessageCount>{s}</d2p1:ScheduledMessageCount>"#,
            r#"<d2p1:TransferMessageCount>0</d2p1:TransferMessageCount><d2p1:TransferDeadLetterMessageCount>0</d2p1:TransferDeadLetterMessageCount></CountDetails>"#
        ),
        counts = COUNTS,
        a = active,
        d = dead,
        s = scheduled
    )
}

/// An `<Error>` body: the status as `Code`, and `Detail`.
pub fn error(code: u16, detail: &str) -> String {
    format!(
        "<Error><Code>{code}</Code><Detail>{}</Detail></Error>",
        escape(detail)
    )
}

/// Append `<name>text</name>` (text escaped).
pub fn element(out: &mut String, name: &str, text: impl std::fmt::Display) {
    let text = text.to_string();
    let _ = write!(out, "<{name}>{}</{name}>", escape(text.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_description_whatever_the_prefixes() {
        let python = r#"<?xml version='1.0' encoding='utf-8'?>
<ns0:entry xmlns:ns0="http://www.w3.org/2005/Atom" xmlns:ns1="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><ns0:content type="application/xml"><ns1:QueueDescription><ns1:LockDuration>PT30S</ns1:LockDuration><ns1:UserMetadata>a &amp; b</ns1:UserMetadata><ns1:AuthorizationRules><ns1:AuthorizationRule/></ns1:AuthorizationRules></ns1:QueueDescription></ns0:content></ns0:entry>"#;
        let fields = parse_queue_description(python).unwrap();
        assert_eq!(
            fields[0],
            (
                "LockDuration".into(),
                Field {
                    text: "PT30S".into(),
                    nested: false
                }
            )
        );
        assert_eq!(fields[1].1.text, "a & b");
        assert!(fields[2].1.nested);
        let empty = r#"<entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><QueueDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"/></content></entry>"#;
        assert!(parse_queue_description(empty).unwrap().is_empty());
        for bad_body in [
            "",
            "<entry",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"/>",
            "<entry xmlns=\"http://www.w3.org/2005/Atom\"></entry>",
        ] {
            assert!(parse_queue_description(bad_body).is_err(), "{bad_body}");
        }
    }
}
