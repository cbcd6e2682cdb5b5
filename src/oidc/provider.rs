//! The provider as a long-lived, shared thing: discovered in the background with
//! backoff (a provider that is down never stops the service from starting), and its
//! signing keys re-fetched, rate-limited, when a token names a key we do not know.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::reqwest;
use serde_json::{Map, Value};
use tokio::sync::Mutex;
use url::Url;

use super::client::{KeyRequester, OpenIdProvider};
use super::discovery::{self, Discovered, DiscoveryError, Endpoints};
use super::login::{self, TokenError, TokenSet, UserinfoError};
use crate::config::ProviderSettings;
use crate::telemetry::metrics::Metrics;
use crate::util::error_chain;

/// Minimum time between two key re-fetches triggered by unknown `kid`s.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

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

/// Why the provider is not usable right now.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum NotReady {
    #[error("provider metadata not loaded yet")]
    Starting,
    /// The last discovery attempt's error, shared by every request that asks meanwhile.
    #[error("provider metadata not loaded: {}", error_chain(.0.as_ref()))]
    Failed(Arc<DiscoveryError>),
}

struct Keys {
    set: Arc<CoreJsonWebKeySet>,
    /// When each kind of requester last re-fetched: one budget each.
    refetched_at: [Option<Instant>; 2],
}

fn budget(requester: KeyRequester) -> usize {
    match requester {
        KeyRequester::TokenEndpoint => 0,
        KeyRequester::Anonymous => 1,
    }
}

pub(crate) struct Provider {
    settings: ProviderSettings,
    http: reqwest::Client,
    state: RwLock<Result<Arc<Discovered>, NotReady>>,
    keys: RwLock<Option<Keys>>,
    refetch: Mutex<()>,
    metrics: Arc<Metrics>,
}

impl Provider {
    pub(crate) fn new(settings: ProviderSettings, http: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            http,
            metrics,
            state: RwLock::new(Err(NotReady::Starting)),
            keys: RwLock::new(None),
            refetch: Mutex::new(()),
        }
    }

    /// One discovery attempt: metadata and keys, both or neither.
    pub(crate) async fn load(&self) -> Result<(), Arc<DiscoveryError>> {
        let result = async {
            let found = self
                .metrics
                .provider_call("discovery", discovery::discover(&self.http, &self.settings))
                .await?;
            discovery::require_par(&self.settings, &found)?;
            let keys = self
                .metrics
                .provider_call("jwks", discovery::fetch_jwks(&self.http, &found.endpoints.jwks))
                .await?;
            Ok::<_, DiscoveryError>((found, keys))
        }
        .await;
        match result {
            Ok((found, keys)) => {
                *self.keys.write().expect("not poisoned") = Some(Keys {
                    set: Arc::new(keys),
                    refetched_at: [None; 2],
                });
                *self.state.write().expect("not poisoned") = Ok(Arc::new(found));
                Ok(())
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

    /// Retries discovery with exponential backoff (1 s doubling to 60 s) until it succeeds.
    pub(crate) async fn discover_until_ready(&self) {
        let mut delay = Duration::from_secs(1);
        loop {
            match self.load().await {
                Ok(()) => {
                    tracing::info!(issuer = %self.settings.issuer, "provider metadata and keys loaded");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(e.as_ref()), retry_in = ?delay, "provider discovery failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// Re-fetches the key set after a token named an unknown key. Returns the new set, or
    /// `None` when a re-fetch happened too recently (so forged `kid`s cannot make us hammer
    /// the provider) or failed.
    async fn refetch(&self, seen: &Arc<CoreJsonWebKeySet>, requester: KeyRequester) -> Option<Arc<CoreJsonWebKeySet>> {
        let _one_at_a_time = self.refetch.lock().await;
        {
            let keys = self.keys.read().expect("not poisoned");
            let keys = keys.as_ref()?;
            // Another request re-fetched while we waited: use its result.
            if !Arc::ptr_eq(&keys.set, seen) {
                return Some(keys.set.clone());
            }
            if keys.refetched_at[budget(requester)].is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
                return None;
            }
        }
        let url = self.discovered().ok()?.endpoints.jwks.clone();
        let fetched = self
            .metrics
            .provider_call("jwks", discovery::fetch_jwks(&self.http, &url))
            .await;
        let mut keys = self.keys.write().expect("not poisoned");
        let keys = keys.as_mut()?;
        keys.refetched_at[budget(requester)] = Some(Instant::now());
        match fetched {
            Ok(set) => {
                tracing::info!("provider signing keys re-fetched");
                keys.set = Arc::new(set);
                Some(keys.set.clone())
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "re-fetching the provider's keys failed");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl OpenIdProvider for Provider {
    fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn discovered(&self) -> Result<Arc<Discovered>, NotReady> {
        self.state.read().expect("not poisoned").clone()
    }

    fn keys(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        self.keys.read().expect("not poisoned").as_ref().map(|k| k.set.clone())
    }

    async fn refetch_keys(
        &self,
        seen: &Arc<CoreJsonWebKeySet>,
        requester: KeyRequester,
    ) -> Option<Arc<CoreJsonWebKeySet>> {
        self.refetch(seen, requester).await
    }

    async fn exchange_code(&self, endpoints: &Endpoints, code: &str, verifier: &str) -> Result<TokenSet, TokenError> {
        let call = login::exchange_code(&self.settings, endpoints, &self.http, code, verifier);
        self.metrics.provider_call("token", call).await
    }

    async fn refresh(&self, endpoints: &Endpoints, refresh_token: &str) -> Result<TokenSet, TokenError> {
        let call = login::refresh(&self.settings, endpoints, &self.http, refresh_token);
        self.metrics.provider_call("token", call).await
    }

    async fn userinfo(
        &self,
        url: &Url,
        access_token: &str,
        expected_sub: &str,
    ) -> Result<Map<String, Value>, UserinfoError> {
        let call = login::userinfo(&self.http, url, access_token, expected_sub);
        self.metrics.provider_call("userinfo", call).await
    }

    async fn revoke(&self, endpoints: &Endpoints, refresh_token: &str) -> Result<(), TokenError> {
        let call = login::revoke(&self.settings, endpoints, &self.http, refresh_token);
        self.metrics.provider_call("revocation", call).await
    }

    async fn push_authorization_request(
        &self,
        endpoints: &Endpoints,
        par_endpoint: &Url,
        authorize_url: &Url,
    ) -> Result<Url, TokenError> {
        let call = super::par::push(&self.settings, endpoints, &self.http, par_endpoint, authorize_url);
        self.metrics.provider_call("par", call).await
    }
}
