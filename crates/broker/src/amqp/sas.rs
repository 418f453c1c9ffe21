//! Shared access signature tokens, checked as Service Bus checks them.
//!
//! Token form (`azure/servicebus/_pyamqp/utils.py generate_sas_token`, `@azure/core-amqp
//! auth/tokenProvider.js createToken`): `SharedAccessSignature sr=<enc(uri)>&sig=<enc(b64(
//! HMAC-SHA256(key, enc(uri) + "\n" + se)))>&se=<unix seconds>&skn=<key name>`. The signed
//! string is the `sr` value exactly as it stands in the token.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeZone, Utc};
use percent_encoding::percent_decode_str;
use ring::hmac;
use thiserror::Error;

/// The namespace's shared access key (the emulator's `RootManageSharedAccessKey`).
#[derive(Clone)]
pub struct SasKey {
    /// `SharedAccessKeyName`.
    pub name: String,
    /// `SharedAccessKey`, used as UTF-8 bytes (not base64-decoded), as the SDKs sign.
    pub key: String,
}

impl std::fmt::Debug for SasKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SasKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a token is refused; the text becomes the put-token `status-description`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a `SharedAccessSignature` token, or a field is missing.
    #[error("InvalidToken: the token is not a well-formed SharedAccessSignature ({0} missing).")]
    Malformed(&'static str),
    /// The key name is not the configured one.
    #[error("InvalidSignature: the token has an unknown key name '{0}'.")]
    UnknownKeyName(String),
    /// The signature does not match the key.
    #[error("InvalidSignature: The token has an invalid signature.")]
    BadSignature,
    /// `se` is in the past.
    #[error("ExpiredToken: The token is expired. Expiration time: '{0}'.")]
    Expired(String),
    /// `sr` does not cover the audience the token is put for.
    #[error("InvalidAudience: The token audience '{token}' does not cover '{audience}'.")]
    Audience {
        /// Decoded `sr`.
        token: String,
        /// The put-token `name`.
        audience: String,
    },
}

/// An accepted token: the entity path prefix it grants and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Lower-cased entity path (`jobs`, or `` for the whole namespace).
    pub path: String,
    /// Token expiry.
    pub expires: DateTime<Utc>,
}

/// The path part of an audience or address (`sb://host:port/a/b` -> `a/b`), lower-cased; a
/// query is not part of it (the JavaScript SDK's administration client signs each request URL,
/// `?api-version=...` included: `@azure/service-bus` `util/sasServiceClientCredentials.js`).
pub fn audience_path(uri: &str) -> String {
    let uri = uri.split('?').next().unwrap_or(uri);
    let rest = match uri.find("://") {
        Some(i) => {
            let after = &uri[i + 3..];
            after.find('/').map_or("", |j| &after[j + 1..])
        }
        None => uri,
    };
    rest.trim_matches('/').to_lowercase()
}

fn field<'a>(token: &'a str, name: &'static str) -> Result<&'a str, TokenError> {
    token
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .ok_or(TokenError::Malformed(name))
}

/// Check `token` for `audience` (the put-token `name`) at `now`.
pub fn verify(
    key: &SasKey,
    token: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<Grant, TokenError> {
    let body = token
        .strip_prefix("SharedAccessSignature ")
        .ok_or(TokenError::Malformed("SharedAccessSignature prefix"))?;
    let sr = field(body, "sr")?;
    let sig = field(body, "sig")?;
    let se = field(body, "se")?;
    let skn = field(body, "skn")?;
    let skn = percent_decode_str(skn).decode_utf8_lossy();
    if skn != key.name {
        return Err(TokenError::UnknownKeyName(skn.into_owned()));
    }
    let signature = STANDARD
        .decode(percent_decode_str(sig).decode_utf8_lossy().as_bytes())
        .map_err(|_| TokenError::BadSignature)?;
    let mac = hmac::Key::new(hmac::HMAC_SHA256, key.key.as_bytes());
    hmac::verify(&mac, format!("{sr}\n{se}").as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let expiry: i64 = se.parse().map_err(|_| TokenError::Malformed("se"))?;
    let expires = Utc
        .timestamp_opt(expiry, 0)
        .single()
        .ok_or(TokenError::Malformed("se"))?;
    if expires <= now {
        return Err(TokenError::Expired(expires.to_rfc3339()));
    }
    let resource = percent_decode_str(&sr.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned();
    let granted = audience_path(&resource);
    let wanted = audience_path(audience);
    let covers =
        granted.is_empty() || wanted == granted || wanted.starts_with(&format!("{granted}/"));
    if !covers {
        return Err(TokenError::Audience {
            token: resource,
            audience: audience.to_owned(),
        });
    }
    Ok(Grant {
        path: wanted,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    fn token(key: &str, audience: &str, se: i64) -> String {
        let sr = utf8_percent_encode(audience, NON_ALPHANUMERIC).to_string();
        let mac = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
        let sig = STANDARD.encode(hmac::sign(&mac, format!("{sr}\n{se}").as_bytes()).as_ref());
        let sig = utf8_percent_encode(&sig, NON_ALPHANUMERIC);
        format!("SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn=RootManageSharedAccessKey")
    }

    fn key() -> SasKey {
        SasKey {
            name: "RootManageSharedAccessKey".into(),
            key: "SAS_KEY_VALUE".into(),
        }
    }

    #[test]
    fn accepts_a_good_token_and_refuses_bad_ones() {
        let now = Utc::now();
        let later = now.timestamp() + 3600;
        let aud = "sb://127.0.0.1:5672/jobs";
        let grant = verify(&key(), &token("SAS_KEY_VALUE", aud, later), aud, now).unwrap();
        assert_eq!(grant.path, "jobs");
        assert_eq!(
            verify(&key(), &token("wrong", aud, later), aud, now),
            Err(TokenError::BadSignature)
        );
        let earlier = now.timestamp() - 1;
        assert!(matches!(
            verify(&key(), &token("SAS_KEY_VALUE", aud, earlier), aud, now),
            Err(TokenError::Expired(_))
        ));
        let other = "sb://127.0.0.1:5672/other";
        assert!(matches!(
            verify(&key(), &token("SAS_KEY_VALUE", aud, later), other, now),
            Err(TokenError::Audience { .. })
        ));
        let signed_with_query = "https://127.0.0.1:5672/jobs?api-version=2021-05";
        let url = "https://127.0.0.1:5672/jobs";
        let grant = verify(
            &key(),
            &token("SAS_KEY_VALUE", signed_with_query, later),
            url,
            now,
        );
        assert_eq!(grant.unwrap().path, "jobs");
        let ns = "sb://localhost:5672/";
        assert_eq!(
            verify(&key(), &token("SAS_KEY_VALUE", ns, later), aud, now)
                .unwrap()
                .path,
            "jobs"
        );
    }
}
