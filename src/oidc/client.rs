//! The provider as a long-lived, shared thing, over HTTP: discovered in the background with
//! backoff (a provider that is down never stops the service from starting), its signing
//! keys re-fetched, rate-limited, when a token names a key we do not know, and every call
//! counted in the metrics.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use openidconnect::core::{CoreIdToken, CoreJsonWebKeySet};
use openidconnect::reqwest;
use serde_json::{Map, Value};
use url::Url;

use super::access_token::{self, AccessClaims, AccessTokenError, AccessTokenPolicy};
use super::client_auth::Jwk;
use super::discovery::{self, Discovered, DiscoveryError};
use super::id_token::{self, IdTokenError, IdTokenPolicy, VerifiedIdToken};
use super::keys::{KeyRequester, ProviderKeys};
use super::login::{self, AuthRequest, TokenError, TokenSet, UserinfoError};
use super::logout_token::{self, LogoutClaims, LogoutTokenError, LogoutTokenPolicy};
use super::provider::{NotReady, OpenIdProvider};
use crate::config::ProviderSettings;
use crate::telemetry::metrics::Metrics;
use crate::util::error_chain;

/// Public: the cause inside the public `StartupError`.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot read OIDC_EXTRA_CA_FILE")]
    CaFile(#[source] std::io::Error),
    #[error("OIDC_EXTRA_CA_FILE holds no valid PEM certificate")]
    CaPem(#[source] reqwest::Error),
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// The client for every call to the provider: bounded by `OIDC_HTTP_TIMEOUT`, extra
/// roots from `OIDC_EXTRA_CA_FILE`, and no redirects followed (SSRF).
pub(crate) fn http_client(settings: &ProviderSettings) -> Result<reqwest::Client, HttpClientError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.http_timeout)
        .connect_timeout(settings.http_timeout)
        .user_agent(concat!("oidc-session/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &settings.extra_ca_file {
        let pem = std::fs::read(path).map_err(HttpClientError::CaFile)?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(HttpClientError::CaPem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(HttpClientError::Build)
}

/// Pushed authorization requests in flight at once: each costs a signature (with
/// `private_key_jwt`) and an outbound request, and anyone can start a sign-in. Beyond this,
/// a sign-in is refused with 503 rather than queued, so the hot path keeps its cores.
pub(crate) const ANONYMOUS_PROVIDER_CALLS: usize = 32;

pub(crate) struct HttpProvider {
    settings: ProviderSettings,
    http: reqwest::Client,
    anonymous: tokio::sync::Semaphore,
    state: RwLock<Result<Arc<Discovered>, NotReady>>,
    keys: ProviderKeys,
    metrics: Arc<Metrics>,
}

impl HttpProvider {
    pub(crate) fn new(settings: ProviderSettings, http: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            http,
            metrics,
            anonymous: tokio::sync::Semaphore::new(ANONYMOUS_PROVIDER_CALLS),
            state: RwLock::new(Err(NotReady::Starting)),
            keys: ProviderKeys::default(),
        }
    }

    /// The discovered metadata; an error until discovery has succeeded.
    fn discovered(&self) -> Result<Arc<Discovered>, NotReady> {
        self.state.read().expect("not poisoned").clone()
    }

    /// One discovery attempt: metadata and keys, both or neither (a failure keeps the last
    /// good copy). Returns the key set's `Cache-Control: max-age`.
    pub(crate) async fn load(&self) -> Result<Option<Duration>, Arc<DiscoveryError>> {
        let result = async {
            let found = self
                .metrics
                .provider_call("discovery", discovery::discover(&self.http, &self.settings))
                .await?;
            discovery::require_par(&self.settings, &found)?;
            let keys = self
                .metrics
                .provider_call(
                    "jwks",
                    discovery::fetch_jwks_with_age(&self.http, &found.endpoints.jwks),
                )
                .await?;
            Ok::<_, DiscoveryError>((found, keys))
        }
        .await;
        match result {
            Ok((found, (keys, max_age))) => {
                self.keys.replace(keys);
                *self.state.write().expect("not poisoned") = Ok(Arc::new(found));
                Ok(max_age)
            }
            Err(e) => {
                let mut state = self.state.write().expect("not poisoned");
                let e = Arc::new(e);
                if state.is_err() {
                    *state = Err(NotReady::Failed(e.clone()));
                }
                Err(e)
            }
        }
    }

    /// Retries discovery with exponential backoff (1 s doubling to 60 s) until it succeeds;
    /// returns the key set's `max-age`.
    pub(crate) async fn discover_until_ready(&self) -> Option<Duration> {
        let mut delay = Duration::from_secs(1);
        loop {
            match self.load().await {
                Ok(max_age) => {
                    tracing::info!(issuer = %self.settings.issuer, "provider metadata and keys loaded");
                    return max_age;
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(e.as_ref()), retry_in = ?delay, "provider discovery failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// The key set in use (tests of the scheduled refresh).
    #[cfg(test)]
    pub(crate) fn current_keys(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        self.keys.current()
    }

    /// The provider's current key set, for a re-fetch after a token named an unknown key.
    async fn fetch_keys(&self) -> Option<CoreJsonWebKeySet> {
        let url = self.discovered().ok()?.endpoints.jwks.clone();
        match self
            .metrics
            .provider_call("jwks", discovery::fetch_jwks(&self.http, &url))
            .await
        {
            Ok(set) => {
                tracing::info!("provider signing keys re-fetched");
                Some(set)
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "re-fetching the provider's keys failed");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl OpenIdProvider for HttpProvider {
    fn ready(&self) -> Result<(), NotReady> {
        self.discovered().map(|_| ())
    }

    fn authorization_request(&self) -> Result<AuthRequest, NotReady> {
        let discovered = self.discovered()?;
        Ok(login::authorization_request(&self.settings, &discovered.endpoints))
    }

    fn promises_iss(&self) -> Result<bool, NotReady> {
        Ok(self.discovered()?.sends_iss())
    }

    async fn authorization_redirect(&self, request: &AuthRequest) -> Result<Url, TokenError> {
        let discovered = self.discovered()?;
        let endpoints = &discovered.endpoints;
        let Some(par_endpoint) = &endpoints.pushed_authorization else {
            return Ok(request.url.clone());
        };
        let Ok(_slot) = self.anonymous.try_acquire() else {
            return Err(TokenError::Busy);
        };
        let call = super::par::push(&self.settings, endpoints, &self.http, par_endpoint, &request.url);
        self.metrics.provider_call("par", call).await
    }

    async fn exchange_code(&self, code: &str, verifier: &str) -> Result<TokenSet, TokenError> {
        let discovered = self.discovered()?;
        let call = login::exchange_code(&self.settings, &discovered.endpoints, &self.http, code, verifier);
        self.metrics.provider_call("token", call).await
    }

    async fn verify_id_token(&self, token: &CoreIdToken, nonce: Option<&str>) -> Result<VerifiedIdToken, IdTokenError> {
        let discovered = self.discovered().map_err(IdTokenError::ProviderNotReady)?;
        let policy = IdTokenPolicy::new(&self.settings, &discovered.id_token_algs);
        let missing = || IdTokenError::ProviderNotReady(NotReady::Starting);
        let verify = |keys: &CoreJsonWebKeySet| id_token::verify(token, keys, &policy, nonce);
        let fetch = async || self.fetch_keys().await;
        self.keys
            .verify(KeyRequester::TokenEndpoint, fetch, missing, verify)
            .await
    }

    async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, LogoutTokenError> {
        let discovered = self.discovered().map_err(LogoutTokenError::ProviderNotReady)?;
        let policy = LogoutTokenPolicy::new(&self.settings, &discovered.id_token_algs);
        let missing = || LogoutTokenError::ProviderNotReady(NotReady::Starting);
        let verify = |keys: &CoreJsonWebKeySet| logout_token::verify_logout_token(token, keys, &policy);
        let fetch = async || self.fetch_keys().await;
        self.keys.verify(KeyRequester::Anonymous, fetch, missing, verify).await
    }

    async fn verify_access_token(&self, token: &str, audiences: &[String]) -> Result<AccessClaims, AccessTokenError> {
        let discovered = self.discovered().map_err(|_| AccessTokenError::ProviderNotReady)?;
        let policy = AccessTokenPolicy {
            issuer: &self.settings.issuer,
            audiences,
            allowed_algs: &discovered.id_token_algs,
            clock_skew: self.settings.clock_skew,
            now: crate::domain::now(),
        };
        let verify = |keys: &CoreJsonWebKeySet| access_token::verify(token, keys, &policy);
        let fetch = async || self.fetch_keys().await;
        let missing = || AccessTokenError::ProviderNotReady;
        self.keys.verify(KeyRequester::Anonymous, fetch, missing, verify).await
    }

    async fn introspect_token(&self, token: &str, audiences: &[String]) -> Result<AccessClaims, AccessTokenError> {
        let discovered = self.discovered().map_err(|_| AccessTokenError::ProviderNotReady)?;
        let endpoints = &discovered.endpoints;
        let Some(url) = &endpoints.introspection else {
            return Err(AccessTokenError::NoIntrospection);
        };
        let now = crate::domain::now();
        let call = super::introspection::introspect(&self.settings, endpoints, &self.http, url, token, audiences, now);
        self.metrics.provider_call("introspection", call).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, TokenError> {
        let discovered = self.discovered()?;
        let call = login::refresh(&self.settings, &discovered.endpoints, &self.http, refresh_token);
        self.metrics.provider_call("token", call).await
    }

    async fn userinfo(
        &self,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<Option<Map<String, Value>>, UserinfoError> {
        let discovered = self.discovered()?;
        let (Some(url), true) = (&discovered.endpoints.userinfo, self.settings.fetch_userinfo) else {
            return Ok(None);
        };
        let call = login::userinfo(&self.http, url, access_token, expected_sub);
        self.metrics.provider_call("userinfo", call).await.map(Some)
    }

    async fn revoke(&self, refresh_token: &str) -> Result<(), TokenError> {
        let discovered = self.discovered()?;
        if discovered.endpoints.revocation.is_none() {
            return Ok(());
        }
        let call = login::revoke(&self.settings, &discovered.endpoints, &self.http, refresh_token);
        self.metrics.provider_call("revocation", call).await
    }

    fn end_session_url(&self, id_token_hint: Option<&str>, post_logout: Option<&Url>, state: &str) -> Option<Url> {
        let discovered = self.discovered().ok()?;
        let endpoint = discovered.endpoints.end_session.as_ref()?;
        let client_id = &self.settings.client_id;
        Some(super::logout::end_session_url(
            endpoint,
            id_token_hint,
            client_id,
            post_logout,
            state,
        ))
    }

    fn client_jwks(&self) -> Option<Vec<Jwk>> {
        let keys = self.settings.client_auth.keys()?;
        let discovered = self.discovered().ok();
        let advertised = discovered
            .as_ref()
            .and_then(|d| d.endpoints.client_assertion_algs.as_deref());
        Some(keys.jwk_set(advertised))
    }
}
