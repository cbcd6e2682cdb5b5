//! One thin call into each parser of outside input, for the fuzz targets in `fuzz/` and
//! their replay on stable in `tests/fuzz_replay.rs`: crate-private parsers are reachable
//! from there only through here. No logic of its own; not an API.

use std::time::Duration;

use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};

use crate::config::{ConfigError, Settings};
use crate::domain::access::RouteRules;
use crate::domain::{ClaimPath, Identity, Tokens};
use crate::oidc::logout_token::{self, LogoutClaims, LogoutTokenError, LogoutTokenPolicy};
use crate::service::forward_auth::OriginalUrl;
use crate::service::return_to::ReturnTo;

/// A cookie's value in a `Cookie` request header.
pub fn cookie_in_header<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    crate::http::cookie::find_in_header(header, name)
}

/// `return_to` of `GET /auth/login`: the accepted value, or `None` when refused.
pub fn return_to(raw: &str, own: &url::Origin, allowed: &[url::Origin]) -> Option<String> {
    ReturnTo::parse(raw, own, allowed).ok().map(ReturnTo::into_string)
}

/// The per-route rules in a forward-auth URL's query: `mode=redirect` or not, and whether
/// `identity` passes them; the configuration error otherwise.
pub fn forward_auth_rules(query: &str, identity: &Identity) -> Result<(bool, Result<(), String>), String> {
    RouteRules::parse(query)
        .map(|rules| {
            (
                rules.redirect,
                rules.check(identity, &Default::default(), 0).map_err(|e| e.to_string()),
            )
        })
        .map_err(|e| e.to_string())
}

/// Where forward-auth sends a browser to sign in, from the original URL's parts as the
/// proxy forwarded them (`X-Forwarded-Proto`, `-Host`, `-Uri`).
pub fn forward_auth_sign_in_url(
    scheme: &str,
    authority: &str,
    path_and_query: &str,
    own: &url::Origin,
    allowed: &[url::Origin],
) -> Option<url::Url> {
    let original = OriginalUrl {
        scheme,
        authority,
        path_and_query,
    };
    original.sign_in_url(own, allowed)
}

/// What a logout token is checked against (mirrors the crate's policy).
pub struct LogoutPolicy<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub allowed_algs: &'a [CoreJwsSigningAlgorithm],
    pub clock_skew: Duration,
    pub now: u64,
}

impl LogoutPolicy<'_> {
    fn inner(&self) -> LogoutTokenPolicy<'_> {
        LogoutTokenPolicy {
            issuer: self.issuer,
            client_id: self.client_id,
            allowed_algs: self.allowed_algs,
            clock_skew: self.clock_skew,
            now: self.now,
        }
    }
}

/// The claims of an accepted logout token.
#[derive(Debug, PartialEq, Eq)]
pub struct LogoutToken {
    pub iss: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    pub iat: u64,
    pub exp: Option<u64>,
}

fn accepted(result: Result<LogoutClaims, LogoutTokenError>) -> Result<LogoutToken, String> {
    result
        .map(|c| LogoutToken {
            iss: c.iss,
            sub: c.sub,
            sid: c.sid,
            jti: c.jti,
            iat: c.iat,
            exp: c.exp,
        })
        .map_err(|e| e.to_string())
}

/// The checks of a logout token's decoded JOSE header: its `alg` and `kid` when accepted.
pub fn logout_token_header(
    header: &[u8],
    policy: &LogoutPolicy,
) -> Result<(CoreJwsSigningAlgorithm, Option<String>), String> {
    logout_token::check_header(header, &policy.inner())
        .map(|h| (h.alg, h.kid))
        .map_err(|e| e.to_string())
}

/// The checks of a logout token's decoded claims (as after a good signature).
pub fn logout_token_claims(payload: &[u8], policy: &LogoutPolicy) -> Result<LogoutToken, String> {
    accepted(logout_token::check_payload(payload, &policy.inner()))
}

/// The whole verifier of `POST /auth/backchannel-logout`.
pub fn verify_logout_token(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    policy: &LogoutPolicy,
) -> Result<LogoutToken, String> {
    accepted(logout_token::verify_logout_token(token, jwks, &policy.inner()))
}

/// Packed tokens as read back from Redis (after decryption, when sealed).
pub fn unpack_tokens(packed: &[u8]) -> Option<Tokens> {
    crate::session::tokens::unpack(packed)
}

/// A claim path of `OIDC_USERNAME_CLAIM`, `OIDC_EMAIL_CLAIM` or `OIDC_GROUPS_CLAIM`.
pub fn claim_path(value: &str) -> Result<ClaimPath, String> {
    ClaimPath::parse(value)
}

/// A duration variable (`OIDC_SESSION_IDLE_TIMEOUT`, …).
pub fn config_duration(value: &str) -> Result<Duration, String> {
    crate::config::parse::duration(value)
}

/// A list variable (`OIDC_SCOPES`, `OIDC_ALLOWED_GROUPS`, …).
pub fn config_list(value: &str) -> Vec<String> {
    crate::config::parse::list(value)
}

/// A boolean variable (`OIDC_FETCH_USERINFO`, …).
pub fn config_boolean(value: &str) -> Result<bool, String> {
    crate::config::parse::boolean(value)
}

/// An origin of `OIDC_ALLOWED_RETURN_ORIGINS`.
pub fn config_origin(value: &str) -> Result<url::Origin, String> {
    crate::config::parse::origin(value)
}

/// The whole configuration from `(name, value)` pairs.
pub fn settings_from_vars(vars: Vec<(String, String)>) -> Result<Settings, ConfigError> {
    Settings::from_vars(vars)
}
