//! The provider's JWT access tokens that API clients present (README, "API clients with
//! bearer tokens"; RFC 9068): verified locally, with the compact-JWS steps of logout tokens
//! (`super::logout_token::verify_jws`: the same `alg` allow-list, never `none` or HMAC, no
//! `crit`, keys only from the provider's JWKS), then `iss`, `aud`, `exp` (mandatory), `nbf`,
//! `iat`. An ID token is not an access token: a `nonce` claim refuses it.
//!
//! Error texts name claims and configured values, never token content.

use std::time::Duration;

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use serde_json::{Map, Value};

use super::logout_token::{verify_jws, LogoutTokenError};

/// Longer tokens are refused before anything is decoded.
pub(crate) const MAX_ACCESS_TOKEN_BYTES: usize = 16 * 1024;

/// `typ` values of an access token (RFC 9068 §2.1), compared ignoring case.
const ACCESS_TYPES: &[&str] = &["at+jwt", "application/at+jwt", "JWT"];

pub(crate) struct AccessTokenPolicy<'a> {
    pub(crate) issuer: &'a str,
    /// `OIDC_BEARER_AUDIENCES`: `aud` must contain one of them.
    pub(crate) audiences: &'a [String],
    /// The provider's advertised ID-token algorithms (RS256 when it lists none).
    pub(crate) allowed_algs: &'a [CoreJwsSigningAlgorithm],
    pub(crate) clock_skew: Duration,
    pub(crate) now: u64,
}

/// What a verified access token proved.
#[derive(Debug, Clone)]
pub(crate) struct AccessClaims {
    pub(crate) sub: String,
    pub(crate) exp: u64,
    pub(crate) claims: Map<String, Value>,
}

/// Why a bearer token is refused; the text is the 401's `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AccessTokenError {
    #[error("the identity provider is not ready; try again")]
    ProviderNotReady,
    #[error("the token is longer than {MAX_ACCESS_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token is encrypted (a JWE); only signed access tokens are accepted")]
    Encrypted,
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token's algorithm is not accepted (never none or HMAC; only the provider's advertised ones)")]
    Algorithm,
    #[error("the token's `typ` is not at+jwt or JWT")]
    WrongType,
    #[error("the token lists critical header extensions (`crit`), and none are supported")]
    CriticalHeader,
    #[error("the token is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("the token's `iss` is not the configured issuer")]
    WrongIssuer,
    #[error("wrong audience: the token's `aud` names none of OIDC_BEARER_AUDIENCES")]
    WrongAudience,
    #[error("the token has no `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf` or `iat` in the future)")]
    NotYetValid,
    #[error("an ID token is not an access token")]
    IdToken,
    #[error("the provider says the token is not active")]
    Inactive,
    #[error("the token is not a JWT and the provider has no introspection endpoint")]
    NoIntrospection,
    #[error("the provider's introspection endpoint could not be asked; try again")]
    IntrospectionFailed,
}

impl super::keys::KeyError for AccessTokenError {
    fn is_unknown_key(&self) -> bool {
        *self == Self::UnknownKey
    }
}

impl From<LogoutTokenError> for AccessTokenError {
    fn from(e: LogoutTokenError) -> Self {
        use LogoutTokenError as L;
        match e {
            L::Encrypted => Self::Encrypted,
            L::NotCompactJws { .. } => Self::Malformed("not a compact JWS"),
            L::InvalidBase64 { .. } => Self::Malformed("not base64url"),
            L::HeaderNotJsonObject | L::InvalidHeader(_) => Self::Malformed("invalid header"),
            L::PayloadNotJsonObject => Self::Malformed("payload is not a JSON object"),
            L::UnrecognizedAlgorithm | L::ForbiddenAlgorithm { .. } | L::AlgorithmNotAllowed { .. } => Self::Algorithm,
            L::WrongType => Self::WrongType,
            L::UnsupportedCriticalHeader => Self::CriticalHeader,
            L::UnknownKey => Self::UnknownKey,
            L::ProviderNotReady(_) => Self::ProviderNotReady,
            L::TooLarge { .. } => Self::TooLarge,
            // An ambiguous or unusable provider key cannot vouch for the token either.
            _ => Self::BadSignature,
        }
    }
}

/// Whether a token has the shape of a JWS or JWE (dots between base64url parts), rather
/// than an opaque reference for the provider's introspection endpoint.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let parts = token.split('.').count();
    (parts == 3 || parts == 5) && token.starts_with("eyJ")
}

pub(crate) fn verify(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    policy: &AccessTokenPolicy<'_>,
) -> Result<AccessClaims, AccessTokenError> {
    if token.len() > MAX_ACCESS_TOKEN_BYTES {
        return Err(AccessTokenError::TooLarge);
    }
    let payload = verify_jws(token, jwks, policy.allowed_algs, ACCESS_TYPES)?;
    let claims = match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(claims)) => claims,
        _ => return Err(AccessTokenError::Malformed("payload is not a JSON object")),
    };
    if claims.get("iss").and_then(Value::as_str) != Some(policy.issuer) {
        return Err(AccessTokenError::WrongIssuer);
    }
    check_claims(claims, policy.audiences, true, policy.clock_skew, policy.now)
}

/// The checks a verified JWT's claims and an introspection answer share: `aud` (when
/// present in an introspection answer, always in a JWT), `exp` mandatory, `nbf`/`iat`, no
/// `nonce`, a `sub`.
pub(crate) fn check_claims(
    claims: Map<String, Value>,
    audiences: &[String],
    aud_required: bool,
    skew: Duration,
    now: u64,
) -> Result<AccessClaims, AccessTokenError> {
    let skew = skew.as_secs();
    if claims.contains_key("nonce") {
        return Err(AccessTokenError::IdToken);
    }
    let named = |aud: &str| audiences.iter().any(|a| a == aud);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => named(aud),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(named),
        None => !aud_required,
        Some(_) => false,
    };
    if !audience_ok {
        return Err(AccessTokenError::WrongAudience);
    }
    // NumericDate (RFC 7519 §2) may have a fraction: whole seconds are enough here.
    let time = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or(AccessTokenError::Malformed("a time claim is not a number of seconds")),
    };
    let exp = time("exp")?.ok_or(AccessTokenError::MissingClaim("exp"))?;
    if now > exp.saturating_add(skew) {
        return Err(AccessTokenError::Expired);
    }
    for name in ["nbf", "iat"] {
        if time(name)?.is_some_and(|t| t > now.saturating_add(skew)) {
            return Err(AccessTokenError::NotYetValid);
        }
    }
    // A client-credentials token may name no user: the client is its subject (RFC 9068 §2.2).
    let sub = ["sub", "client_id"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .ok_or(AccessTokenError::MissingClaim("sub"))?;
    Ok(AccessClaims { sub, exp, claims })
}

#[cfg(test)]
mod tests;
