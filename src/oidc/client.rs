//! What the service asks of the OpenID Provider, as a trait: [`super::provider::Provider`]
//! is the real one (HTTP, metrics, background discovery); the service's unit tests script
//! one without a network.

use std::sync::Arc;

use async_trait::async_trait;
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::{Map, Value};
use url::Url;

use super::discovery::{Discovered, Endpoints};
use super::login::{TokenError, TokenSet, UserinfoError};
use super::provider::NotReady;
use crate::config::ProviderSettings;

/// Who triggers a key re-fetch. Anyone can post a logout token with a made-up `kid`, so
/// such requests get a re-fetch budget of their own and cannot use up the one that logins
/// and refreshes (tokens straight from the token endpoint) depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRequester {
    TokenEndpoint,
    Anonymous,
}

#[async_trait]
pub(crate) trait OpenIdProvider: Send + Sync + 'static {
    fn settings(&self) -> &ProviderSettings;

    /// The discovered metadata; an error until discovery has succeeded.
    fn discovered(&self) -> Result<Arc<Discovered>, NotReady>;

    /// The current key set; `None` until discovery has loaded it.
    fn keys(&self) -> Option<Arc<CoreJsonWebKeySet>>;

    /// Re-fetches the key set after a token named a key not in `seen`; `None` when the
    /// requester's re-fetch budget is used up or the fetch failed.
    async fn refetch_keys(
        &self,
        seen: &Arc<CoreJsonWebKeySet>,
        requester: KeyRequester,
    ) -> Option<Arc<CoreJsonWebKeySet>>;

    async fn exchange_code(&self, endpoints: &Endpoints, code: &str, verifier: &str) -> Result<TokenSet, TokenError>;

    async fn refresh(&self, endpoints: &Endpoints, refresh_token: &str) -> Result<TokenSet, TokenError>;

    /// Userinfo claims; their `sub` must equal `expected_sub`.
    async fn userinfo(
        &self,
        url: &Url,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<Map<String, Value>, UserinfoError>;

    /// RFC 7009 revocation of a refresh token; `Ok` when the provider has no endpoint.
    async fn revoke(&self, endpoints: &Endpoints, refresh_token: &str) -> Result<(), TokenError>;

    /// RFC 9126: pushes the parameters of `authorize_url` to `par_endpoint`; returns where
    /// the browser goes instead (only `client_id` and `request_uri`).
    async fn push_authorization_request(
        &self,
        endpoints: &Endpoints,
        par_endpoint: &Url,
        authorize_url: &Url,
    ) -> Result<Url, TokenError>;
}

/// An error from checking a signature against the provider's keys.
pub(crate) trait KeyError {
    /// The token names a key the current set lacks (perhaps rotated in since we fetched).
    fn is_unknown_key(&self) -> bool;
}

/// Runs `verify` against the provider's keys and, when it names an unknown key, once more
/// against a re-fetched set (key rotation). `missing` is the error while no keys are loaded.
pub(crate) async fn verify_with_refetch<T, E: KeyError>(
    provider: &dyn OpenIdProvider,
    requester: KeyRequester,
    missing: impl FnOnce() -> E,
    verify: impl Fn(&CoreJsonWebKeySet) -> Result<T, E>,
) -> Result<T, E> {
    let keys = provider.keys().ok_or_else(missing)?;
    match verify(&keys) {
        Err(e) if e.is_unknown_key() => match provider.refetch_keys(&keys, requester).await {
            Some(fresh) => verify(&fresh),
            None => Err(e),
        },
        other => other,
    }
}
