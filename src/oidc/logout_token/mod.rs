//! Verification of OpenID Connect Back-Channel Logout 1.0 `logout_token`s
//! (<https://openid.net/specs/openid-connect-backchannel-1_0.html>, §2.4 and §2.6).
//!
//! openidconnect 4.1.0 cannot do this: its JWT internals are private and its
//! `IdTokenVerifier` refuses `typ: logout+jwt` and tokens without `sub`. This module parses
//! the compact JWS itself and uses only the crate's public JWKS pieces
//! (`JsonWebKeySet::keys`, `JsonWebKey::key_id`/`key_type`/`key_use`/`signing_alg` and
//! `JsonWebKey::verify_signature`, through [`rsa_signature::verify_signature`], which
//! checks RSA with ring: the public endpoint's most expensive step) to check the signature.
//!
//! Order of checks: size, shape (three parts), header (`alg`, `typ`, `crit`, `kid`), key
//! selection, signature. The claims are decoded and read only after the signature is good.
//! Keys are only ever taken from the JWKS passed in: the header's `jwk`, `jku`, `x5u` and
//! `x5c` are ignored.
//!
//! Left to the caller (§2.6 steps 8–11): remembering `jti`s to refuse replays until `exp`
//! (or `iat` + a window, since `exp` may be absent), matching `sid`/`sub` to sessions,
//! re-fetching the JWKS once (rate-limited) on [`LogoutTokenError::UnknownKey`], and answering
//! `400 Bad Request` on any error.
//!
//! Error texts never repeat token content (claim values, header values), only names of
//! claims, configured values and algorithm names from a fixed list, so they can be logged.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::JwsSigningAlgorithm;
use serde_json::{Map, Value};

mod claims;
mod keys;
mod replay;

use crate::oidc::rsa_signature;
use claims::*;
use keys::*;
pub(crate) use replay::{MAX_TOKEN_AGE, NO_EXP_WINDOW};

/// Tokens longer than this are refused before anything is decoded.
pub(crate) const MAX_LOGOUT_TOKEN_BYTES: usize = 16 * 1024;

/// The member `events` must contain (§2.4).
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a logout token is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogoutTokenPolicy<'a> {
    /// The issuer, compared byte for byte with `iss` (trailing slash included).
    pub(crate) issuer: &'a str,
    /// This relying party's client ID; `aud` must contain it.
    pub(crate) client_id: &'a str,
    /// Algorithms the provider advertises (`id_token_signing_alg_values_supported`). An empty
    /// list means RS256 only, the default of §2.6 step 3. `none` and every HMAC algorithm are
    /// refused whatever this list says.
    pub(crate) allowed_algs: &'a [CoreJwsSigningAlgorithm],
    /// Tolerance for clock differences, applied to `iat` and `exp`.
    pub(crate) clock_skew: Duration,
    /// The current time in seconds since the Unix epoch.
    pub(crate) now: u64,
}

impl<'a> LogoutTokenPolicy<'a> {
    /// The configured client and issuer, the advertised algorithms, and the current time.
    pub(crate) fn new(
        settings: &'a crate::config::ProviderSettings,
        allowed_algs: &'a [CoreJwsSigningAlgorithm],
    ) -> Self {
        Self {
            issuer: &settings.issuer,
            client_id: &settings.client_id,
            allowed_algs,
            clock_skew: settings.clock_skew,
            now: crate::domain::now(),
        }
    }
}

/// The claims of a verified logout token. At least one of `sub` and `sid` is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutClaims {
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    pub(crate) sid: Option<String>,
    pub(crate) jti: String,
    pub(crate) iat: u64,
    pub(crate) exp: Option<u64>,
}

/// Why a logout token was refused. Each is answered with `400 Bad Request` (§2.8); only
/// [`LogoutTokenError::UnknownKey`] is worth one retry after re-fetching the JWKS.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogoutTokenError {
    /// Not the token's fault: it cannot be judged yet (answered 503, so the provider retries).
    #[error("the identity provider's keys are not loaded yet")]
    ProviderNotReady(#[source] crate::oidc::discovery::NotReady),

    #[error("logout token is {len} bytes long, over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },

    #[error(
        "logout token is encrypted (a JWE with five parts); encrypted logout tokens are not \
         supported: register this client without ID token encryption"
    )]
    Encrypted,

    #[error("logout token is not a compact JWS: expected 3 parts separated by dots, found {parts}")]
    NotCompactJws { parts: usize },

    #[error("logout token {part} is not valid base64url without padding")]
    InvalidBase64 { part: &'static str },

    #[error("logout token header is not a JSON object")]
    HeaderNotJsonObject,

    #[error("logout token header is invalid: {0}")]
    InvalidHeader(&'static str),

    #[error("logout token is signed with an algorithm (`alg`) this service does not recognise")]
    UnrecognizedAlgorithm,

    #[error(
        "logout token uses alg `{alg}`, which is never accepted for logout tokens \
         (unsigned, or a shared-secret MAC)"
    )]
    ForbiddenAlgorithm { alg: String },

    #[error(
        "logout token is signed with `{alg}`, which is not among the provider's advertised ID \
         token signing algorithms ({allowed})"
    )]
    AlgorithmNotAllowed { alg: String, allowed: String },

    #[error(
        "logout token header `typ` is neither `logout+jwt` nor `JWT`; was an ID token or an \
         access token sent to the back-channel logout endpoint?"
    )]
    WrongType,

    #[error("logout token header lists critical extensions (`crit`), and this service supports none")]
    UnsupportedCriticalHeader,

    #[error(
        "no key in the provider's JWKS matches the logout token's key ID and algorithm \
         (the provider may have rotated its keys: re-fetch the JWKS)"
    )]
    UnknownKey,

    #[error(
        "the provider's JWKS holds {count} keys that could have signed this logout token \
         (same key ID, or no key ID in the token), so none can be chosen"
    )]
    AmbiguousKey { count: usize },

    #[error("the provider's JWKS key for this logout token cannot be used: {0}")]
    UnusableKey(String),

    #[error("logout token signature is invalid")]
    BadSignature,

    #[error("logout token payload is not a JSON object")]
    PayloadNotJsonObject,

    #[error("logout token has no `{0}` claim")]
    MissingClaim(&'static str),

    #[error("logout token claim `{claim}` is malformed: {reason}")]
    InvalidClaim { claim: &'static str, reason: &'static str },

    #[error(
        "logout token `iss` is not exactly the configured issuer `{expected}` \
         (compare scheme, host, path and trailing slash)"
    )]
    WrongIssuer { expected: String },

    #[error("logout token `aud` does not include this client's ID `{client_id}`")]
    WrongAudience { client_id: String },

    #[error(
        "logout token `iat` is more than {skew_secs} s in the future: check the clocks of this \
         host and of the provider"
    )]
    IssuedInFuture { skew_secs: u64 },

    #[error("logout token has expired (`exp` passed, beyond the {skew_secs} s clock skew allowed)")]
    Expired { skew_secs: u64 },

    #[error("logout token has no `events` claim with a `{BACKCHANNEL_LOGOUT_EVENT}` member")]
    MissingLogoutEvent,

    #[error("logout token `events` claim is malformed: {0}")]
    InvalidEvents(&'static str),

    #[error("logout token carries a `nonce` claim, which logout tokens must not have")]
    NoncePresent,

    #[error("logout token has neither a `sub` nor a `sid` claim")]
    MissingSubjectAndSession,
}

impl crate::oidc::keys::KeyError for LogoutTokenError {
    fn is_unknown_key(&self) -> bool {
        LogoutTokenError::is_unknown_key(self)
    }
}

impl LogoutTokenError {
    /// True when the token names a key the JWKS in hand does not have: re-fetch the JWKS
    /// once (rate-limited) and verify again.
    pub(crate) fn is_unknown_key(&self) -> bool {
        matches!(self, LogoutTokenError::UnknownKey)
    }
}

/// The `typ` values a logout token may carry. Media type names are case-insensitive (RFC
/// 7515 §4.1.9); `JWT` is what Keycloak before 25 and Authentik send.
const LOGOUT_TYPES: &[&str] = &["logout+jwt", "application/logout+jwt", "JWT"];

/// Verifies a back-channel `logout_token` per §2.4 and §2.6 and returns its claims.
pub(crate) fn verify_logout_token(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    policy: &LogoutTokenPolicy,
) -> Result<LogoutClaims, LogoutTokenError> {
    if token.len() > MAX_LOGOUT_TOKEN_BYTES {
        return Err(LogoutTokenError::TooLarge {
            len: token.len(),
            max: MAX_LOGOUT_TOKEN_BYTES,
        });
    }
    let payload = verify_jws(token, jwks, policy.allowed_algs, LOGOUT_TYPES)?;
    // Signature good: only now look at the claims.
    check_payload(&payload, policy)
}

/// The compact-JWS steps every token from the provider goes through (logout tokens here,
/// access tokens in `super::access_token`): shape (three parts; a JWE is named as such),
/// header (`alg` among `allowed_algs`, never `none` or HMAC; `typ`, when present, one of
/// `types`; no `crit`; `kid`), key selection from `jwks` alone, signature. Returns the
/// payload's bytes, not yet read. The error variants are named for logout tokens; other
/// callers map them.
pub(crate) fn verify_jws(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    allowed_algs: &[CoreJwsSigningAlgorithm],
    types: &[&str],
) -> Result<Vec<u8>, LogoutTokenError> {
    let parts: Vec<&str> = token.split('.').collect();
    let (header_b64, payload_b64, signature_b64) = match parts.as_slice() {
        [h, p, s] => (*h, *p, *s),
        [jwe_header, _, _, _, _] if is_jwe_header(jwe_header) => return Err(LogoutTokenError::Encrypted),
        other => return Err(LogoutTokenError::NotCompactJws { parts: other.len() }),
    };

    let Header { alg, kid } = check_header_with(&decode_part(header_b64, "header")?, allowed_algs, types)?;
    let key = select_key(jwks, kid.as_deref(), &alg)?;

    let signature = decode_part(signature_b64, "signature")?;
    if signature.is_empty() {
        return Err(LogoutTokenError::BadSignature);
    }
    // The signing input is the first two parts exactly as received, with their dot.
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    rsa_signature::verify_signature(key, &alg, signing_input.as_bytes(), &signature).map_err(signature_error)?;
    decode_part(payload_b64, "payload")
}

/// What the JOSE header decides: the algorithm, and the key ID if any.
pub(crate) struct Header {
    pub alg: CoreJwsSigningAlgorithm,
    pub kid: Option<String>,
}

/// The checks of the decoded JOSE header (§2.6 step 3, RFC 7515 §4.1).
pub(crate) fn check_header(bytes: &[u8], policy: &LogoutTokenPolicy) -> Result<Header, LogoutTokenError> {
    check_header_with(bytes, policy.allowed_algs, LOGOUT_TYPES)
}

fn check_header_with(
    bytes: &[u8],
    allowed_algs: &[CoreJwsSigningAlgorithm],
    types: &[&str],
) -> Result<Header, LogoutTokenError> {
    let header = json_object(bytes).ok_or(LogoutTokenError::HeaderNotJsonObject)?;
    let alg = check_alg(&header, allowed_algs)?;
    check_typ(&header, types)?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: extensions listed in `crit` must be understood; we know none.
        return Err(LogoutTokenError::UnsupportedCriticalHeader);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(LogoutTokenError::InvalidHeader("`kid` is not a string")),
    };
    Ok(Header { alg, kid })
}

/// The checks of the decoded claims (§2.4, §2.6 steps 4–7); only ever called on a payload
/// whose signature is good.
pub(crate) fn check_payload(bytes: &[u8], policy: &LogoutTokenPolicy) -> Result<LogoutClaims, LogoutTokenError> {
    let claims = json_object(bytes).ok_or(LogoutTokenError::PayloadNotJsonObject)?;
    check_claims(&claims, policy)
}

fn decode_part(part: &str, name: &'static str) -> Result<Vec<u8>, LogoutTokenError> {
    // URL_SAFE_NO_PAD refuses padding, the standard alphabet, whitespace and
    // non-canonical trailing bits.
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| LogoutTokenError::InvalidBase64 { part: name })
}

/// A five-part token is a JWE when its header is a JSON object with `enc` (RFC 7516 §4.1.2).
fn is_jwe_header(part: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(part)
        .ok()
        .and_then(|bytes| json_object(&bytes))
        .is_some_and(|header| header.contains_key("enc"))
}

fn json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The JWS name of an algorithm (`RS256`, …), from the fixed list the enum knows.
fn alg_name(alg: &CoreJwsSigningAlgorithm) -> String {
    match serde_json::to_value(alg) {
        Ok(Value::String(name)) => name,
        _ => format!("{alg:?}"),
    }
}

fn check_alg(
    header: &Map<String, Value>,
    allowed_algs: &[CoreJwsSigningAlgorithm],
) -> Result<CoreJwsSigningAlgorithm, LogoutTokenError> {
    let alg = match header.get("alg") {
        None => return Err(LogoutTokenError::InvalidHeader("`alg` is missing")),
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(LogoutTokenError::InvalidHeader("`alg` is not a string")),
    };
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(Value::String(alg.clone())).map_err(|_| LogoutTokenError::UnrecognizedAlgorithm)?;

    // `none` has no key type; HS* use a shared secret. Either would let anyone who knows the
    // (public) provider key forge tokens, so refuse them whatever the provider advertises.
    if alg == CoreJwsSigningAlgorithm::None || alg.key_type().is_none() || alg.uses_shared_secret() {
        return Err(LogoutTokenError::ForbiddenAlgorithm { alg: alg_name(&alg) });
    }

    const DEFAULT_ALGS: &[CoreJwsSigningAlgorithm] = &[CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
    let allowed = if allowed_algs.is_empty() {
        DEFAULT_ALGS
    } else {
        allowed_algs
    };
    if !allowed.contains(&alg) {
        return Err(LogoutTokenError::AlgorithmNotAllowed {
            alg: alg_name(&alg),
            allowed: allowed.iter().map(alg_name).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(alg)
}

fn check_typ(header: &Map<String, Value>, types: &[&str]) -> Result<(), LogoutTokenError> {
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(typ)) => {
            let accepted = types.iter().any(|ok| typ.eq_ignore_ascii_case(ok));
            if accepted {
                Ok(())
            } else {
                Err(LogoutTokenError::WrongType)
            }
        }
        Some(_) => Err(LogoutTokenError::InvalidHeader("`typ` is not a string")),
    }
}

#[cfg(test)]
pub(crate) mod tests;
