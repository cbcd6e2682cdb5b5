//! What the service asks of the OpenID Provider, in its own terms: start a sign-in,
//! exchange a code, verify a token, refresh, read userinfo, revoke, say where logout goes.
//! [`super::client::HttpProvider`] is the real one (HTTP, metrics, background discovery,
//! keys re-fetched on rotation); the service's unit tests script one without a network.
//! No method takes endpoints or keys: which endpoint, which key and whether to re-fetch
//! are the provider's business.

use async_trait::async_trait;
use openidconnect::core::CoreIdToken;
use serde_json::{Map, Value};
use url::Url;

use super::access_token::{AccessClaims, AccessTokenError};
use super::client_auth::Jwk;
pub(crate) use super::discovery::NotReady;
use super::id_token::{IdTokenError, VerifiedIdToken};
use super::login::{AuthRequest, TokenError, TokenSet, UserinfoError};
use super::logout_token::{LogoutClaims, LogoutTokenError};

#[async_trait]
pub(crate) trait OpenIdProvider: Send + Sync + 'static {
    /// `Ok` once the provider's metadata and keys are loaded.
    fn ready(&self) -> Result<(), NotReady>;

    /// A new authorization request (PKCE S256, `state`, `nonce`), not sent anywhere yet.
    fn authorization_request(&self) -> Result<AuthRequest, NotReady>;

    /// Whether the provider promises `iss` in its authorization responses (RFC 9207:
    /// `authorization_response_iss_parameter_supported`).
    fn promises_iss(&self) -> Result<bool, NotReady>;

    /// Where the browser goes for `request`: its URL, or, when the provider takes pushed
    /// authorization requests (RFC 9126), the pushed request's (`client_id`, `request_uri`).
    async fn authorization_redirect(&self, request: &AuthRequest) -> Result<Url, TokenError>;

    /// The authorization code grant; the answer holds an ID token, not yet verified.
    async fn exchange_code(&self, code: &str, pkce_verifier: &str) -> Result<TokenSet, TokenError>;

    /// OIDC Core §3.1.3.7 for an ID token from the token endpoint; `nonce` when the login
    /// sent one. A token signed by an unknown key makes the provider re-fetch its keys once.
    async fn verify_id_token(&self, token: &CoreIdToken, nonce: Option<&str>) -> Result<VerifiedIdToken, IdTokenError>;

    /// Back-Channel Logout 1.0 §2.6 steps 1–7 for a token anyone may have posted: its key
    /// re-fetches come from the anonymous callers' budget.
    async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, LogoutTokenError>;

    /// A JWT access token from an API client (RFC 9068): signature, `iss`, `aud` among
    /// `audiences`, times. Anyone may send one: key re-fetches come from the anonymous
    /// callers' budget.
    async fn verify_access_token(&self, token: &str, audiences: &[String]) -> Result<AccessClaims, AccessTokenError>;

    /// An opaque access token, asked about at the provider's RFC 7662 introspection
    /// endpoint with the client's own authentication; refused without that endpoint.
    async fn introspect_token(&self, token: &str, audiences: &[String]) -> Result<AccessClaims, AccessTokenError>;

    async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, TokenError>;

    /// Userinfo claims, whose `sub` must equal `expected_sub`; `None` when userinfo is not
    /// used (`OIDC_FETCH_USERINFO=false`, or no endpoint).
    async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<Option<Map<String, Value>>, UserinfoError>;

    /// RFC 7009 revocation of a refresh token; `Ok` when the provider has no endpoint.
    async fn revoke(&self, refresh_token: &str) -> Result<(), TokenError>;

    /// RP-Initiated Logout: the provider's end-session URL with these parameters (and the
    /// client id); `None` when it has no `end_session_endpoint` or is not loaded.
    fn end_session_url(&self, id_token_hint: Option<&str>, post_logout: Option<&Url>, state: &str) -> Option<Url>;

    /// The public JWK Set of the `private_key_jwt` keys, each with the `alg` it signs with
    /// for this provider; `None` without a key.
    fn client_jwks(&self) -> Option<Vec<Jwk>>;
}
