//! AMQP 1.0 framing (spec part 2.3) and the length of encoded values (part 1.6), so that
//! performatives and message sections can be cut out of a buffer exactly.

use bytes::{BufMut, Bytes, BytesMut};
use fe2o3_amqp_types::performatives::{ChannelMax, MaxFrameSize, Open, Performative};
use serde::Serialize;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Frame type of AMQP frames.
pub const FRAME_AMQP: u8 = 0x00;
/// Frame type of SASL frames.
pub const FRAME_SASL: u8 = 0x01;
/// The smallest max-frame-size a peer may announce (spec 2.7.1).
pub const MIN_MAX_FRAME_SIZE: u32 = 512;

/// A framing or encoding failure; the connection is closed with `amqp:decode-error` or
/// `amqp:frame-size-too-small` as appropriate.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The peer closed the stream or it failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// A frame larger than we accept.
    #[error("frame of {size} bytes exceeds the max-frame-size {max}")]
    FrameTooLarge {
        /// Announced size.
        size: u32,
        /// Our limit.
        max: u32,
    },
    /// A malformed frame header or value.
    #[error("malformed AMQP data: {0}")]
    Malformed(&'static str),
    /// serde_amqp could not (de)serialize.
    #[error("AMQP encoding: {0}")]
    Amqp(#[from] serde_amqp::Error),
}

/// One frame as read: its type, channel and body (extended header skipped).
#[derive(Debug)]
pub struct RawFrame {
    /// [`FRAME_AMQP`] or [`FRAME_SASL`].
    pub kind: u8,
    /// Channel (AMQP frames).
    pub channel: u16,
    /// Frame body; empty for a heartbeat.
    pub body: Bytes,
}

/// Bytes a connection's reader reserves at a time: the frames it reads share that allocation
/// (each frame's body a [`Bytes`] view of it), not one allocation each.
const READ_CHUNK: usize = 64 * 1024;

/// Read one frame, refusing frames larger than `max_frame_size`.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_size: u32,
) -> Result<RawFrame, CodecError> {
    read_frame_with(reader, max_frame_size, &mut BytesMut::new()).await
}

/// [`read_frame`], its body read into `buffer`'s spare room (reserved [`READ_CHUNK`] at a
/// time): a reader that keeps its buffer allocates once per chunk, not once per frame.
pub async fn read_frame_with<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_size: u32,
    buffer: &mut BytesMut,
) -> Result<RawFrame, CodecError> {
    let mut head = [0u8; 8];
    reader.read_exact(&mut head).await?;
    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let doff = head[4];
    if size > max_frame_size {
        return Err(CodecError::FrameTooLarge {
            size,
            max: max_frame_size,
        });
    }
    if doff < 2 || (doff as u32) * 4 > size {
        return Err(CodecError::Malformed("frame data offset"));
    }
    let len = size as usize - 8;
    buffer.clear();
    if buffer.capacity() < len {
        buffer.reserve(len.max(READ_CHUNK));
    }
    buffer.resize(len, 0);
    reader.read_exact(&mut buffer[..]).await?;
    let skip = doff as usize * 4 - 8;
    let mut body = buffer.split().freeze();
    let body = body.split_off(skip);
    Ok(RawFrame {
        kind: head[5],
        channel: u16::from_be_bytes([head[6], head[7]]),
        body,
    })
}

/// Append a frame carrying `performative` and `payload` to `out`.
pub fn write_frame<T: Serialize>(
    out: &mut BytesMut,
    kind: u8,
    channel: u16,
    performative: &T,
    payload: &[u8],
) -> Result<(), CodecError> {
    let body = serde_amqp::to_vec(performative)?;
    let size = 8 + body.len() + payload.len();
    out.put_u32(u32::try_from(size).map_err(|_| CodecError::Malformed("frame size"))?);
    out.put_u8(2);
    out.put_u8(kind);
    out.put_u16(channel);
    out.put_slice(&body);
    out.put_slice(payload);
    Ok(())
}

/// An `open` performative naming only the container, frame size and channel limit (no idle
/// timeout, locales, capabilities or properties), as the broker answers one.
pub fn open(container_id: String, max_frame_size: u32, channel_max: u16) -> Open {
    Open {
        container_id,
        hostname: None,
        max_frame_size: MaxFrameSize(max_frame_size),
        channel_max: ChannelMax(channel_max),
        idle_time_out: None,
        outgoing_locales: None,
        incoming_locales: None,
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    }
}

/// Append an empty (heartbeat) frame.
pub fn write_empty(out: &mut BytesMut) {
    out.put_u32(8);
    out.put_u8(2);
    out.put_u8(FRAME_AMQP);
    out.put_u16(0);
}

/// Split an AMQP frame body into its performative and the payload after it (transfers).
pub fn decode_performative(body: &[u8]) -> Result<(Performative, &[u8]), CodecError> {
    let len = value_len(body)?;
    let performative = serde_amqp::from_slice(&body[..len])?;
    Ok((performative, &body[len..]))
}

fn need(buf: &[u8], n: usize) -> Result<(), CodecError> {
    if buf.len() < n {
        Err(CodecError::Malformed("truncated value"))
    } else {
        Ok(())
    }
}

fn sized(buf: &[u8], width: usize) -> Result<usize, CodecError> {
    need(buf, 1 + width)?;
    let n = if width == 1 {
        buf[1] as usize
    } else {
        u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize
    };
    let total = 1 + width + n;
    need(buf, total)?;
    Ok(total)
}

/// The encoded length of the AMQP value at the start of `buf` (described values included).
pub fn value_len(buf: &[u8]) -> Result<usize, CodecError> {
    need(buf, 1)?;
    let code = buf[0];
    let fixed = match code {
        0x00 => {
            let d = value_len(&buf[1..])?;
            let v = value_len(&buf[1 + d..])?;
            return Ok(1 + d + v);
        }
        0x40..=0x45 => 0,
        0x50..=0x56 => 1,
        0x60 | 0x61 => 2,
        0x70..=0x74 => 4,
        0x80..=0x84 => 8,
        0x94 | 0x98 => 16,
        0xa0 | 0xa1 | 0xa3 | 0xc0 | 0xc1 | 0xe0 => return sized(buf, 1),
        0xb0 | 0xb1 | 0xb3 | 0xd0 | 0xd1 | 0xf0 => return sized(buf, 4),
        _ => return Err(CodecError::Malformed("unknown format code")),
    };
    need(buf, 1 + fixed)?;
    Ok(1 + fixed)
}

/// The descriptor code of a described value whose descriptor is a `ulong`, if it is one.
pub fn descriptor_code(buf: &[u8]) -> Option<u64> {
    match buf {
        [0x00, 0x53, code, ..] => Some(*code as u64),
        [0x00, 0x80, rest @ ..] if rest.len() >= 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rest[..8]);
            Some(u64::from_be_bytes(b))
        }
        [0x00, 0x44, ..] => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::frames::{self, FlowState};

    #[test]
    fn performative_and_payload_split_exactly() {
        let transfer = frames::transfer(1, Some((7, vec![1, 2], false)), false);
        let mut out = BytesMut::new();
        write_frame(&mut out, FRAME_AMQP, 3, &transfer, b"payload").unwrap();
        let body = &out[8..];
        let (p, payload) = decode_performative(body).unwrap();
        assert!(matches!(p, Performative::Transfer(t) if t.delivery_id == Some(7)));
        assert_eq!(payload, b"payload");
    }

    #[test]
    fn lengths_of_scalars_and_compounds() {
        let state = FlowState {
            next_incoming_id: 1,
            incoming_window: 2,
            next_outgoing_id: 3,
            outgoing_window: 4,
        };
        let flow = frames::flow(state, Some((0, 0, 10, false)));
        let bytes = serde_amqp::to_vec(&flow).unwrap();
        assert_eq!(value_len(&bytes).unwrap(), bytes.len());
        assert_eq!(value_len(&[0x40]).unwrap(), 1);
        assert_eq!(value_len(&[0xa1, 2, b'h', b'i']).unwrap(), 4);
        assert!(value_len(&[0xa1, 5, b'h']).is_err());
        assert!(value_len(&[0x99]).is_err());
    }
}
