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

/// What a shared access authorization rule allows, as Service Bus's `AccessRights`
/// (`Manage`, `Send`, `Listen`; a rule with `Manage` must also have the other two, as Azure
/// requires: "Manage ... includes Send and Listen", Microsoft docs "Service Bus authentication
/// and authorization with Shared Access Signatures", "Shared Access Authorization Policies").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    /// `Manage`: entity administration (and, with it, send and listen).
    pub manage: bool,
    /// `Send`: sender links, `schedule-message`, `cancel-scheduled-message`.
    pub send: bool,
    /// `Listen`: receiver links and the receiving side of `$management`.
    pub listen: bool,
}

impl Rights {
    /// Manage, Send and Listen: the emulator's `RootManageSharedAccessKey`.
    pub const ALL: Rights = Rights {
        manage: true,
        send: true,
        listen: true,
    };

    /// Whether these rights hold `claim`.
    pub fn allow(self, claim: Claim) -> bool {
        match claim {
            Claim::Manage => self.manage,
            Claim::Send => self.send,
            Claim::Listen => self.listen,
        }
    }
}

impl std::fmt::Display for Rights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.manage, "Manage"),
            (self.send, "Send"),
            (self.listen, "Listen"),
        ];
        let held: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&held.join(","))
    }
}

/// A claim an operation needs (the name Service Bus puts in its "Unauthorized access. '<claim>'
/// claim(s) are required" error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Administration.
    Manage,
    /// Sending.
    Send,
    /// Receiving.
    Listen,
}

impl Claim {
    /// The claim's name as Service Bus writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Claim::Manage => "Manage",
            Claim::Send => "Send",
            Claim::Listen => "Listen",
        }
    }
}

/// A shared access authorization rule of the namespace: its name, key and rights.
#[derive(Clone)]
pub struct SasKey {
    /// `SharedAccessKeyName`.
    pub name: String,
    /// `SharedAccessKey`, used as UTF-8 bytes (not base64-decoded), as the SDKs sign.
    pub key: String,
    /// What tokens signed with this key may do.
    pub rights: Rights,
}

impl SasKey {
    /// A rule with every right (the emulator's `RootManageSharedAccessKey` form).
    pub fn root(name: impl Into<String>, key: impl Into<String>) -> Self {
        SasKey {
            name: name.into(),
            key: key.into(),
            rights: Rights::ALL,
        }
    }
}

impl std::fmt::Debug for SasKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SasKey")
            .field("name", &self.name)
            .field("rights", &self.rights)
            .finish_non_exhaustive()
    }
}

/// A `--sas-rule` that cannot be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RuleError {
    /// Not `NAME:RIGHTS:KEY`.
    #[error("expected NAME:RIGHTS:KEY (e.g. sender:Send:secret), got '{0}'")]
    Form(String),
    /// A right that is not `Manage`, `Send` or `Listen`.
    #[error("unknown right '{0}': the rights are Manage, Send and Listen (comma-separated)")]
    Right(String),
    /// `Manage` without `Send` and `Listen`, which Azure refuses.
    #[error("a rule with Manage must also have Send and Listen, as Azure requires")]
    ManageAlone,
}

impl std::str::FromStr for SasKey {
    type Err = RuleError;

    /// `NAME:RIGHTS:KEY`, rights comma-separated (`sender:Send:k`, `worker:Send,Listen:k`); the
    /// key comes last so it may hold any character (base64 keys end in `=`).
    fn from_str(spec: &str) -> Result<Self, RuleError> {
        let mut parts = spec.splitn(3, ':');
        let (Some(name), Some(rights), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(RuleError::Form(spec.to_owned()));
        };
        if name.is_empty() || key.is_empty() {
            return Err(RuleError::Form(spec.to_owned()));
        }
        let mut held = Rights {
            manage: false,
            send: false,
            listen: false,
        };
        for right in rights.split(',').map(str::trim) {
            match right.to_ascii_lowercase().as_str() {
                "manage" => held.manage = true,
                "send" => held.send = true,
                "listen" => held.listen = true,
                _ => return Err(RuleError::Right(right.to_owned())),
            }
        }
        if held.manage && !(held.send && held.listen) {
            return Err(RuleError::ManageAlone);
        }
        Ok(SasKey {
            name: name.to_owned(),
            key: key.to_owned(),
            rights: held,
        })
    }
}

/// Why a token is refused; the text becomes the put-token `status-description`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a `SharedAccessSignature` token, or a field is missing.
    #[error("InvalidToken: the token is not a well-formed SharedAccessSignature ({0} missing).")]
    Malformed(&'static str),
    /// The key name is not one of the namespace's rules.
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

/// An accepted token: the entity path prefix it grants, the rights of the rule that signed it,
/// and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Lower-cased entity path (`jobs`, or `` for the whole namespace).
    pub path: String,
    /// The signing rule's rights.
    pub rights: Rights,
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

/// Check `token` for `audience` (the put-token `name`) at `now`, against the rule its `skn`
/// names among `keys`.
pub fn verify<'a>(
    keys: impl IntoIterator<Item = &'a SasKey>,
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
    let key = keys
        .into_iter()
        .find(|k| k.name == skn)
        .ok_or_else(|| TokenError::UnknownKeyName(skn.to_string()))?;
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
        rights: key.rights,
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

    fn token(key: &str, audience: &str, se: i64) -> String {
        token_by("RootManageSharedAccessKey", key, audience, se)
    }

    fn token_by(name: &str, key: &str, audience: &str, se: i64) -> String {
        let sr = utf8_percent_encode(audience, NON_ALPHANUMERIC).to_string();
        let mac = hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes());
        let sig = STANDARD.encode(hmac::sign(&mac, format!("{sr}\n{se}").as_bytes()).as_ref());
        let sig = utf8_percent_encode(&sig, NON_ALPHANUMERIC);
        format!("SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn={name}")
    }

    fn key() -> [SasKey; 1] {
        [SasKey::root("RootManageSharedAccessKey", "SAS_KEY_VALUE")]
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

    #[test]
    fn a_token_carries_the_rights_of_the_rule_that_signed_it() {
        let keys = [
            SasKey::root("RootManageSharedAccessKey", "SAS_KEY_VALUE"),
            "sender:Send:s3cret==".parse::<SasKey>().unwrap(),
        ];
        let aud = "sb://127.0.0.1:5672/jobs";
        let later = Utc::now().timestamp() + 60;
        let grant = verify(
            &keys,
            &token_by("sender", "s3cret==", aud, later),
            aud,
            Utc::now(),
        );
        let rights = grant.unwrap().rights;
        assert!(rights.allow(Claim::Send) && !rights.allow(Claim::Listen));
        assert!(!rights.allow(Claim::Manage));
        assert_eq!(
            verify(&keys, &token_by("nobody", "x", aud, later), aud, Utc::now()),
            Err(TokenError::UnknownKeyName("nobody".into()))
        );
    }

    #[test]
    fn rules_parse_as_name_rights_key() {
        let rule: SasKey = "worker:Send, listen:a:b=".parse().unwrap();
        assert_eq!((rule.name.as_str(), rule.key.as_str()), ("worker", "a:b="));
        assert_eq!(rule.rights.to_string(), "Send,Listen");
        let all: SasKey = "admin:Manage,Send,Listen:k".parse().unwrap();
        assert_eq!(all.rights, Rights::ALL);
        assert_eq!(
            "x:Manage:k".parse::<SasKey>().err(),
            Some(RuleError::ManageAlone)
        );
        assert_eq!(
            "x:Write:k".parse::<SasKey>().err(),
            Some(RuleError::Right("Write".into()))
        );
        assert!(matches!(
            "x:Send".parse::<SasKey>(),
            Err(RuleError::Form(_))
        ));
        assert!(matches!(
            ":Send:k".parse::<SasKey>(),
            Err(RuleError::Form(_))
        ));
    }
}
