//! `Data.<req>.Identities`: the request's claims identities as the host serialises them.
//!
//! * Serialisation (`H Extensions/HttpRequestExtensions.GetUserIdentitiesAsJArray`, from
//!   `GetRequestAsJObject`): `JArray.FromObject(HttpContext.User.Identities)` with
//!   `ReferenceLoopHandling.Ignore`, so each .NET `ClaimsIdentity` becomes its public properties in
//!   declaration order (`AuthenticationType`, `IsAuthenticated`, `Actor`, `BootstrapContext`,
//!   `Claims`, `Label`, `Name`, `NameClaimType`, `RoleClaimType`) and each `Claim` its own
//!   (`Issuer`, `OriginalIssuer`, `Properties`, `Type`, `Value`, `ValueType`; `Subject`, the
//!   identity itself, is the skipped loop). Claims get `ClaimsIdentity.DefaultIssuer`,
//!   `LOCAL AUTHORITY`.
//! * Which identities (`H WebJobs.Script.WebHost/Middleware/FunctionInvocationMiddleware.
//!   RequiresAuthz`): a request to an `anonymous` function without `x-functions-key`, `code` or
//!   `x-ms-client-principal` is not authenticated, so `User` is ASP.NET Core's default, one empty
//!   identity. Otherwise the host's schemes run: with keys enforced
//!   (`H .../Security/Authentication/Keys/AuthenticationLevelHandler.HandleAuthenticateAsync`), a
//!   key of the app gives one `WebJobsAuthLevel` identity with the claims `authlevel` (the key's
//!   level), `invoke` (`true`) and `keyid` (the key's name); no key, or one that is not the app's,
//!   leaves the default empty identity (ASP.NET Core's `PolicyEvaluator`). Under `func start`
//!   without `--enableAuth` (Core Tools `CliAuthenticationHandler`) every such request gets one
//!   `WebJobsAuthLevel` identity with the single claim `authlevel` = `Admin`.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::config::AuthLevel;

/// `SecurityConstants.AuthLevelClaimType`.
const AUTH_LEVEL_CLAIM: &str = "http://schemas.microsoft.com/2017/07/functions/claims/authlevel";
/// `SecurityConstants.InvokeClaimType`.
const INVOKE_CLAIM: &str = "http://schemas.microsoft.com/2017/07/functions/claims/invoke";
/// `SecurityConstants.AuthLevelKeyNameClaimType`.
const KEY_ID_CLAIM: &str = "http://schemas.microsoft.com/2017/07/functions/claims/keyid";
/// `AuthLevelAuthenticationDefaults.AuthenticationScheme`.
const SCHEME: &str = "WebJobsAuthLevel";

/// Whether the host authenticates this request (`FunctionInvocationMiddleware.RequiresAuthz`).
pub fn authenticated(level: AuthLevel, headers: &HeaderMap, query: Option<&str>) -> bool {
    level != AuthLevel::Anonymous
        || headers.contains_key("x-ms-client-principal")
        || headers.contains_key("x-functions-key")
        || query.is_some_and(|q| {
            q.split('&').any(|pair| {
                super::decode(pair.split_once('=').map_or(pair, |(k, _)| k))
                    .eq_ignore_ascii_case("code")
            })
        })
}

/// ASP.NET Core's default `User`: one identity, not authenticated, no claims.
pub fn anonymous() -> Value {
    json!([identity(None, &[])])
}

/// The identity of a key of the app, as `AuthenticationLevelHandler` builds it.
pub fn key(level: AuthLevel, name: &str) -> Value {
    json!([identity(
        Some(SCHEME),
        &[
            (AUTH_LEVEL_CLAIM, level_name(level)),
            (INVOKE_CLAIM, "true"),
            (KEY_ID_CLAIM, name),
        ],
    )])
}

/// The identity `func start` gives every authenticated request without `--enableAuth`.
pub fn func_start_admin() -> Value {
    json!([identity(Some(SCHEME), &[(AUTH_LEVEL_CLAIM, "Admin")])])
}

/// `AuthorizationLevel.ToString()`.
fn level_name(level: AuthLevel) -> &'static str {
    match level {
        AuthLevel::Anonymous => "Anonymous",
        AuthLevel::Function => "Function",
        AuthLevel::System => "System",
        AuthLevel::Admin => "Admin",
        AuthLevel::User => "User",
    }
}

/// A `ClaimsIdentity` with its properties as Newtonsoft writes them (member order is not kept
/// by `serde_json` here; a JSON object's order carries no meaning).
fn identity(authentication_type: Option<&str>, claims: &[(&str, &str)]) -> Value {
    let claims: Vec<Value> = claims
        .iter()
        .map(|(kind, value)| {
            json!({
                "Issuer": "LOCAL AUTHORITY",
                "OriginalIssuer": "LOCAL AUTHORITY",
                "Properties": {},
                "Type": kind,
                "Value": value,
                "ValueType": "http://www.w3.org/2001/XMLSchema#string",
            })
        })
        .collect();
    json!({
        "AuthenticationType": authentication_type,
        "IsAuthenticated": authentication_type.is_some(),
        "Actor": null,
        "BootstrapContext": null,
        "Claims": claims,
        "Label": null,
        "Name": null,
        "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_the_hosts() {
        let none = HeaderMap::new();
        assert!(!authenticated(AuthLevel::Anonymous, &none, Some("a=1")));
        assert!(authenticated(
            AuthLevel::Anonymous,
            &none,
            Some("a=1&code=x")
        ));
        assert!(authenticated(AuthLevel::Function, &none, None));
        let mut easy = HeaderMap::new();
        easy.insert("x-ms-client-principal", "e30=".parse().unwrap());
        assert!(authenticated(AuthLevel::Anonymous, &easy, None));

        let anon = anonymous();
        assert_eq!(anon[0]["IsAuthenticated"], false);
        assert_eq!(anon[0]["AuthenticationType"], Value::Null);
        assert_eq!(anon[0]["Claims"], json!([]));
        let k = key(AuthLevel::Function, "default");
        assert_eq!(k[0]["AuthenticationType"], "WebJobsAuthLevel");
        assert_eq!(k[0]["Claims"][0]["Value"], "Function");
        assert_eq!(k[0]["Claims"][1]["Type"], INVOKE_CLAIM);
        assert_eq!(k[0]["Claims"][2]["Value"], "default");
        assert_eq!(func_start_admin()[0]["Claims"].as_array().unwrap().len(), 1);
    }
}
