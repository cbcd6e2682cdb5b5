//! The typed settings. Built from the environment by `super::env`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::Secret;
use crate::crypto::KeyRing;
use crate::domain::{ClaimPath, SignInRules};
use crate::oidc::client_auth::ClientKeys;

pub use super::redis::{RedisMode, RedisSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
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
    pub client_secret: Option<Secret>,
    pub auth_method: ClientAuthMethod,
    /// `private_key_jwt` keys (the first signs); `None` without `OIDC_CLIENT_PRIVATE_KEY`.
    pub private_keys: Option<ClientKeys>,
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
    pub introspection_secret: Option<Secret>,
    pub introspection_expose_tokens: bool,
    pub redis: RedisSettings,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Things worth a warning at start (unknown variables, no encryption key).
    pub warnings: Vec<String>,
}

/// What the session store is built from: where Redis is, and the extra CA that
/// `rediss://` servers signed by a private CA need (`OIDC_EXTRA_CA_FILE`).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub redis: RedisSettings,
    pub extra_ca_file: Option<PathBuf>,
}

impl Settings {
    pub fn store(&self) -> StoreSettings {
        StoreSettings {
            redis: self.redis.clone(),
            extra_ca_file: self.provider.extra_ca_file.clone(),
        }
    }
}
