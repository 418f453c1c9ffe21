//! Protocol headers and SASL (AMQP spec part 5.3).
//!
//! Mechanisms offered: `MSSBCBS` (the .NET client), `ANONYMOUS` (the Python and JS clients, then
//! claims-based security on `$cbs`) and `PLAIN` (key name / key). Service Bus requires SASL, so a
//! bare AMQP header is answered with the SASL header and the connection closed (spec 5.3.1).

use bytes::BytesMut;
use fe2o3_amqp_types::primitives::{Array, Symbol};
use fe2o3_amqp_types::sasl::{SaslCode, SaslInit, SaslMechanisms, SaslOutcome};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::amqp::codec::{self, CodecError, FRAME_SASL, MIN_MAX_FRAME_SIZE};
use crate::amqp::connection::Config;
use crate::amqp::sas::Rights;

/// `AMQP 3.1.0.0`: SASL layer.
pub const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";
/// `AMQP 0.1.0.0`: AMQP layer.
pub const AMQP_HEADER: [u8; 8] = *b"AMQP\x00\x01\x00\x00";

/// Why the handshake ended the connection.
#[derive(Debug, Error)]
pub enum HandshakeError {
    /// Framing or transport.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The peer sent a header we do not speak (we answered with ours and closed).
    #[error("unsupported protocol header {0:?}")]
    Header([u8; 8]),
    /// The peer skipped SASL, which Service Bus requires.
    #[error("the client did not negotiate SASL, which Service Bus requires")]
    SaslRequired,
    /// Authentication failed (outcome `auth` sent).
    #[error("SASL {0} authentication failed")]
    Auth(String),
}

/// Who the peer said it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Mechanism used.
    pub mechanism: String,
    /// The rights of the rule whose name and key SASL PLAIN gave, when PLAIN was used.
    pub plain_rights: Option<Rights>,
}

async fn header<R: AsyncRead + Unpin>(reader: &mut R) -> Result<[u8; 8], HandshakeError> {
    let mut h = [0u8; 8];
    reader.read_exact(&mut h).await.map_err(CodecError::from)?;
    Ok(h)
}

async fn send_sasl<W: AsyncWrite + Unpin, T: serde::Serialize>(
    writer: &mut W,
    frame: &T,
) -> Result<(), HandshakeError> {
    let mut out = BytesMut::new();
    codec::write_frame(&mut out, FRAME_SASL, 0, frame, &[])?;
    writer.write_all(&out).await.map_err(CodecError::from)?;
    writer.flush().await.map_err(CodecError::from)?;
    Ok(())
}

fn check_plain(init: &SaslInit, config: &Config) -> Option<Rights> {
    let response = init.initial_response.as_ref()?;
    let mut parts = response.split(|b| *b == 0);
    let _authzid = parts.next()?;
    let user = std::str::from_utf8(parts.next()?).ok()?;
    let pass = std::str::from_utf8(parts.next()?).ok()?;
    config
        .keys()
        .find(|k| k.name == user && k.key == pass)
        .map(|k| k.rights)
}

/// Run the protocol header exchange and SASL; on success the AMQP header has been exchanged.
pub async fn negotiate<R, W>(
    reader: &mut R,
    writer: &mut W,
    config: &Config,
) -> Result<Identity, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let first = header(reader).await?;
    if first == AMQP_HEADER {
        writer
            .write_all(&SASL_HEADER)
            .await
            .map_err(CodecError::from)?;
        return Err(HandshakeError::SaslRequired);
    }
    if first != SASL_HEADER {
        writer
            .write_all(&SASL_HEADER)
            .await
            .map_err(CodecError::from)?;
        return Err(HandshakeError::Header(first));
    }
    writer
        .write_all(&SASL_HEADER)
        .await
        .map_err(CodecError::from)?;
    let mechanisms = SaslMechanisms {
        sasl_server_mechanisms: Array::from(vec![
            Symbol::from("MSSBCBS"),
            Symbol::from("ANONYMOUS"),
            Symbol::from("PLAIN"),
        ]),
    };
    send_sasl(writer, &mechanisms).await?;
    let frame = codec::read_frame(reader, MIN_MAX_FRAME_SIZE).await?;
    if frame.kind != FRAME_SASL {
        return Err(CodecError::Malformed("expected sasl-init").into());
    }
    let init: SaslInit = serde_amqp::from_slice(&frame.body).map_err(CodecError::from)?;
    let mechanism = init.mechanism.as_str().to_owned();
    let identity = match mechanism.as_str() {
        "ANONYMOUS" | "MSSBCBS" => Some(Identity {
            mechanism: mechanism.clone(),
            plain_rights: None,
        }),
        "PLAIN" => check_plain(&init, config).map(|rights| Identity {
            mechanism: mechanism.clone(),
            plain_rights: Some(rights),
        }),
        _ => None,
    };
    let code = if identity.is_some() {
        SaslCode::Ok
    } else {
        SaslCode::Auth
    };
    send_sasl(
        writer,
        &SaslOutcome {
            code,
            additional_data: None,
        },
    )
    .await?;
    let identity = identity.ok_or(HandshakeError::Auth(mechanism))?;
    let second = header(reader).await?;
    writer
        .write_all(&AMQP_HEADER)
        .await
        .map_err(CodecError::from)?;
    writer.flush().await.map_err(CodecError::from)?;
    if second != AMQP_HEADER {
        return Err(HandshakeError::Header(second));
    }
    Ok(identity)
}
