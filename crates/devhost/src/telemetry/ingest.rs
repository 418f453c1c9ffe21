//! The ingestion endpoint: `POST /v2/track` and `/v2.1/track`, as Application Insights' Breeze
//! service answers them. Bodies are a JSON array of envelopes, one envelope, or JSON lines, plain or
//! gzip (`Content-Encoding: gzip`).

use std::io::Read as _;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use serde_json::value::RawValue;

use super::Capture;

/// Decode a track body into envelopes (kept as JSON text: see [`Capture`]).
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Box<RawValue>>, String> {
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
        || body.starts_with(&[0x1f, 0x8b]);
    let mut text = String::new();
    if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut text)
            .map_err(|e| format!("invalid gzip body: {e}"))?;
    } else {
        text = String::from_utf8(body.to_vec()).map_err(|_| "body is not UTF-8".to_owned())?;
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<Box<RawValue>>>(trimmed)
            .map_err(|e| format!("expected an array of envelopes: {e}"));
    }
    let items: Vec<Box<RawValue>> = trimmed
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<Box<RawValue>>(l).map_err(|e| format!("line {}: {e}", i + 1))
        })
        .collect::<Result<_, _>>()
        .or_else(|lines_error| {
            // One object spread over several lines is one envelope.
            serde_json::from_str::<Box<RawValue>>(trimmed)
                .map(|one| vec![one])
                .map_err(|_| lines_error)
        })?;
    if let Some(bad) = items.iter().find(|r| !r.get().starts_with('{')) {
        return Err(format!("expected envelopes (objects), found {}", bad.get()));
    }
    Ok(items)
}

/// `POST /v2/track`, `POST /v2.1/track`.
pub async fn track(State(capture): State<Capture>, headers: HeaderMap, body: Bytes) -> Response {
    match parse_body(&headers, &body) {
        Ok(items) => {
            let n = items.len();
            capture.extend_raw(items);
            Json(json!({"itemsReceived": n, "itemsAccepted": n, "errors": []})).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"itemsReceived": 0, "itemsAccepted": 0, "errors": [{"index": 0, "statusCode": 400, "message": e}]})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn arrays_lines_and_gzip() {
        let plain = HeaderMap::new();
        assert_eq!(
            parse_body(&plain, br#"[{"a":1},{"b":2}]"#).unwrap().len(),
            2
        );
        assert_eq!(
            parse_body(&plain, b"{\"a\":1}\n{\"b\":2}\n").unwrap().len(),
            2
        );
        assert!(parse_body(&plain, b"{nope").is_err());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"[{"a":1}]"#).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-encoding", "gzip".parse().unwrap());
        assert_eq!(
            parse_body(&headers, &gz.finish().unwrap()).unwrap().len(),
            1
        );
    }
}
