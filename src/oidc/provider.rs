//! The provider as a long-lived, shared thing: discovered in the background with
//! backoff (a provider that is down never stops the service from starting), and its
//! signing keys re-fetched, rate-limited, when a token names a key we do not know.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::reqwest;
use tokio::sync::Mutex;

use super::discovery::{self, Discovered, DiscoveryError};
use crate::config::ProviderSettings;
use crate::telemetry::metrics::Metrics;

/// Minimum time between two key re-fetches triggered by unknown `kid`s.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

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
pub fn http_client(settings: &ProviderSettings) -> Result<reqwest::Client, HttpClientError> {
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
#[derive(Debug, Clone)]
pub enum NotReady {
    Starting,
    Failed(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Starting => f.write_str("provider metadata not loaded yet"),
            Self::Failed(e) => write!(f, "provider metadata not loaded: {e}"),
        }
    }
}

struct Keys {
    set: Arc<CoreJsonWebKeySet>,
    refetched_at: Option<Instant>,
}

pub struct Provider {
    pub settings: ProviderSettings,
    pub http: reqwest::Client,
    state: RwLock<Result<Arc<Discovered>, NotReady>>,
    keys: RwLock<Option<Keys>>,
    refetch: Mutex<()>,
    pub metrics: Arc<Metrics>,
}

impl Provider {
    pub fn new(settings: ProviderSettings, http: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        Self {
            settings,
            http,
            metrics,
            state: RwLock::new(Err(NotReady::Starting)),
            keys: RwLock::new(None),
            refetch: Mutex::new(()),
        }
    }

    pub fn discovered(&self) -> Result<Arc<Discovered>, NotReady> {
        self.state.read().expect("not poisoned").clone()
    }

    /// The current key set; `None` until discovery has loaded it.
    pub fn keys(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        self.keys.read().expect("not poisoned").as_ref().map(|k| k.set.clone())
    }

    /// One discovery attempt: metadata and keys, both or neither.
    pub async fn load(&self) -> Result<(), DiscoveryError> {
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
                    refetched_at: None,
                });
                *self.state.write().expect("not poisoned") = Ok(Arc::new(found));
                Ok(())
            }
            Err(e) => {
                let mut state = self.state.write().expect("not poisoned");
                if state.is_err() {
                    *state = Err(NotReady::Failed(error_chain(&e)));
                }
                Err(e)
            }
        }
    }

    /// Retries discovery with exponential backoff (1 s doubling to 60 s) until it succeeds.
    pub async fn discover_until_ready(&self) {
        let mut delay = Duration::from_secs(1);
        loop {
            match self.load().await {
                Ok(()) => {
                    tracing::info!(issuer = %self.settings.issuer, "provider metadata and keys loaded");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), retry_in = ?delay, "provider discovery failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// Re-fetches the key set after a token named an unknown key. Returns the new set, or
    /// `None` when a re-fetch happened too recently (so forged `kid`s cannot make us hammer
    /// the provider) or failed.
    pub async fn refetch_keys(&self, seen: &Arc<CoreJsonWebKeySet>) -> Option<Arc<CoreJsonWebKeySet>> {
        let _one_at_a_time = self.refetch.lock().await;
        {
            let keys = self.keys.read().expect("not poisoned");
            let keys = keys.as_ref()?;
            // Another request re-fetched while we waited: use its result.
            if !Arc::ptr_eq(&keys.set, seen) {
                return Some(keys.set.clone());
            }
            if keys.refetched_at.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
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
        keys.refetched_at = Some(Instant::now());
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

/// An error and its causes on one line, for logs and operator-facing messages.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
