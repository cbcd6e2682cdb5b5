//! The typed settings. Built from the environment by `super::env`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::Secret;
pub use crate::crypto::client_keys::ClientKeys;
use crate::crypto::KeyRing;
use crate::domain::{ClaimPath, SignInRules};

pub use super::redis::{RedisMode, RedisSettings};

/// How the client authenticates at the provider's token, revocation, pushed-authorization
/// and introspection endpoints, with what it needs: a method without its secret or key
/// cannot be represented.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A public client: `client_id` in the body, nothing else.
    None,
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret.
    SecretBasic(Secret),
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    SecretPost(Secret),
    /// `private_key_jwt`: a client assertion signed by the first key, fresh per request.
    PrivateKeyJwt(ClientKeys),
}

impl ClientAuth {
    pub fn method(&self) -> ClientAuthMethod {
        match self {
            Self::None => ClientAuthMethod::None,
            Self::SecretBasic(_) => ClientAuthMethod::ClientSecretBasic,
            Self::SecretPost(_) => ClientAuthMethod::ClientSecretPost,
            Self::PrivateKeyJwt(_) => ClientAuthMethod::PrivateKeyJwt,
        }
    }

    /// The method's registered name (`token_endpoint_auth_method`).
    pub fn as_str(&self) -> &'static str {
        self.method().as_str()
    }

    /// The client secret, for the methods that have one (it also keys HMAC ID tokens).
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Self::SecretBasic(secret) | Self::SecretPost(secret) => Some(secret),
            Self::None | Self::PrivateKeyJwt(_) => None,
        }
    }

    pub fn keys(&self) -> Option<&ClientKeys> {
        match self {
            Self::PrivateKeyJwt(keys) => Some(keys),
            _ => None,
        }
    }
}

/// `OIDC_CLIENT_ASSERTION_AUDIENCE`: the `aud` of `private_key_jwt` client assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionAudience {
    /// The issuer identifier: what current guidance recommends (it cannot be confused with
    /// another server's endpoint), and what Auth0 and most providers accept.
    Issuer,
    /// The endpoint the assertion is sent to (Okta, Microsoft Entra ID document the token
    /// endpoint).
    TokenEndpoint,
    /// This exact value.
    Url(Url),
}

/// The name of a client authentication method, as registered at the provider and written
/// in `OIDC_CLIENT_AUTH_METHOD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

impl std::str::FromStr for ClientAuthMethod {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        [
            Self::None,
            Self::ClientSecretBasic,
            Self::ClientSecretPost,
            Self::PrivateKeyJwt,
        ]
        .into_iter()
        .find(|m| m.as_str() == value)
        .ok_or_else(|| format!("`{value}` is not client_secret_basic, client_secret_post or private_key_jwt"))
    }
}

/// `OIDC_REVALIDATE`: when a session's identity is checked again with the provider (a
/// refresh that re-applies the sign-in rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revalidate {
    /// When its access token has expired.
    Expiry,
    /// At that expiry, or when the last check is older than this, whichever comes first.
    Every(Duration),
    /// Only by an explicit refresh, or when tokens are exposed.
    Never,
}

/// `OIDC_PAR`: when to use Pushed Authorization Requests (RFC 9126).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParMode {
    /// When discovery advertises `pushed_authorization_request_endpoint`.
    Auto,
    /// Always; without the endpoint the service stays unready.
    Always,
    Never,
}

#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The issuer exactly as configured; compared byte for byte with discovery and tokens.
    pub issuer: String,
    pub client_id: String,
    pub client_auth: ClientAuth,
    /// The `aud` of `private_key_jwt` assertions.
    pub assertion_audience: AssertionAudience,
    pub par: ParMode,
    pub redirect_uri: Url,
    pub scopes: Vec<String>,
    pub prompt: Option<String>,
    pub extra_auth_params: Vec<(String, String)>,
    pub discovery_url: Url,
    pub authorization_endpoint: Option<Url>,
    pub token_endpoint: Option<Url>,
    pub userinfo_endpoint: Option<Url>,
    pub jwks_uri: Option<Url>,
    pub end_session_endpoint: Option<Url>,
    pub fetch_userinfo: bool,
    pub http_timeout: Duration,
    pub clock_skew: Duration,
    pub extra_ca_file: Option<PathBuf>,
}

impl ProviderSettings {
    /// With the four core endpoints overridden, discovery is optional.
    pub fn discovery_optional(&self) -> bool {
        self.authorization_endpoint.is_some()
            && self.token_endpoint.is_some()
            && self.userinfo_endpoint.is_some()
            && self.jwks_uri.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
    pub same_site: SameSite,
    pub domain: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    pub login_timeout: Duration,
    pub refresh_leeway: Duration,
    /// `OIDC_REVALIDATE`: when a session's identity is checked again with the provider.
    pub revalidate: Revalidate,
    /// `OIDC_MAX_SESSIONS_PER_USER`: live sessions one `sub` may hold.
    pub max_sessions_per_user: usize,
    pub keys: Option<KeyRing>,
}

#[derive(Debug, Clone)]
pub struct ClaimSettings {
    pub username: ClaimPath,
    pub email: ClaimPath,
    pub groups: ClaimPath,
    /// `OIDC_ALLOWED_GROUPS` and `OIDC_REQUIRE_EMAIL_VERIFIED`.
    pub sign_in_rules: SignInRules,
}

#[derive(Debug, Clone)]
pub struct RedirectSettings {
    pub post_login: String,
    pub post_logout: Option<Url>,
    pub allowed_return_origins: Vec<url::Origin>,
}

/// `OIDC_ASSERTION_KEY`: the keys that sign the identity assertion handed to upstreams (the
/// first signs, all are published at the internal `/.well-known/jwks.json`).
#[derive(Debug, Clone)]
pub struct AssertionSettings {
    pub keys: ClientKeys,
    /// `OIDC_ASSERTION_LIFETIME`: `exp - iat` of each assertion.
    pub lifetime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub provider: ProviderSettings,
    pub cookie: CookieSettings,
    pub session: SessionSettings,
    pub claims: ClaimSettings,
    pub redirects: RedirectSettings,
    pub listen_addr: SocketAddr,
    pub internal_listen_addr: SocketAddr,
    /// `OIDC_MAX_CONNECTIONS`: open connections each listener serves at once.
    pub max_connections: usize,
    pub introspection_secret: Option<Secret>,
    pub introspection_expose_tokens: bool,
    /// `None`: forward-auth hands upstreams no identity assertion.
    pub assertion: Option<AssertionSettings>,
    /// `OIDC_BEARER_AUDIENCES`; empty: bearer tokens are not accepted.
    pub bearer_audiences: Vec<String>,
    /// `OIDC_ADMIN_SECRET`: enables the operator API; never equal to the introspection secret.
    pub admin_secret: Option<Secret>,
    pub redis: RedisSettings,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// OpenTelemetry tracing; `None` (off) unless an OTLP endpoint is set.
    pub tracing: Option<super::TracingSettings>,
    /// Things worth a warning at start (unknown variables, no encryption key).
    pub warnings: Vec<String>,
}

/// What the session store is built from: where Redis is, and the extra CA that
/// `rediss://` servers signed by a private CA need (`OIDC_EXTRA_CA_FILE`).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub redis: RedisSettings,
    pub extra_ca_file: Option<PathBuf>,
    /// Traces are exported: store operations off the hot path get spans.
    pub traced: bool,
}

impl Settings {
    pub fn store(&self) -> StoreSettings {
        StoreSettings {
            redis: self.redis.clone(),
            extra_ca_file: self.provider.extra_ca_file.clone(),
            traced: self.tracing.is_some(),
        }
    }
}
