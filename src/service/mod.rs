//! What the endpoints do, apart from HTTP: login, sessions, refresh, logout. Handlers
//! translate requests into calls on [`Service`] and its answers back into responses.
//! When a session starts, is refreshed or ends is decided here; who may sign in or pass a
//! route is decided by the access rules (`domain::access`).

pub(crate) mod assertion;
pub(crate) mod backchannel;
pub(crate) mod bearer;
mod due;
pub(crate) mod error;
pub(crate) mod forward_auth;
pub(crate) mod login;
pub(crate) mod own_sessions;
pub(crate) mod refresh;
pub(crate) mod return_to;
pub(crate) mod revocation;
pub(crate) mod sessions;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::Settings;
use crate::oidc::claims::{ClaimMapping, Identity};
use crate::oidc::provider::OpenIdProvider;
use crate::session::{PendingLogins, SessionStore, Sessions, StoreError};
use crate::telemetry::metrics::Metrics;
use revocation::Revoker;

pub(crate) use crate::domain::access::Refusal;

pub(crate) struct Service {
    settings: Arc<Settings>,
    provider: Arc<dyn OpenIdProvider>,
    sessions: Sessions,
    pending: PendingLogins,
    revoker: Revoker,
    mapping: ClaimMapping,
    metrics: Arc<Metrics>,
    own_origin: url::Origin,
    /// Refreshes in flight, detached from their callers: shutdown waits for them, since
    /// each may hold tokens the provider has just rotated.
    refreshes: tokio_util::task::TaskTracker,
    /// `None` without `OIDC_ASSERTION_KEY`.
    assertions: Option<assertion::Assertions>,
    /// What bearer-token verifications proved, by token hash.
    bearers: bearer::BearerCache,
}

/// Why the service is not ready to serve logins.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotReady {
    #[error("redis: {0}")]
    Store(#[source] StoreError),
    #[error(transparent)]
    Provider(#[from] crate::oidc::provider::NotReady),
}

impl Service {
    pub(crate) fn new(
        settings: Arc<Settings>,
        provider: Arc<dyn OpenIdProvider>,
        store: Arc<dyn SessionStore>,
        revoker: Revoker,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mapping = ClaimMapping {
            username: settings.claims.username.clone(),
            email: settings.claims.email.clone(),
            groups: settings.claims.groups.clone(),
        };
        let own_origin = settings.provider.redirect_uri.origin();
        let assertions = settings
            .assertion
            .as_ref()
            .map(|a| assertion::Assertions::new(a, own_origin.ascii_serialization()));
        Self {
            own_origin,
            assertions,
            bearers: bearer::BearerCache::default(),
            pending: PendingLogins::new(store.clone(), settings.session.keys.clone()),
            sessions: Sessions::new(store, settings.session.keys.clone()),
            mapping,
            metrics,
            refreshes: tokio_util::task::TaskTracker::new(),
            revoker,
            settings,
            provider,
        }
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// This site, or one of `OIDC_ALLOWED_RETURN_ORIGINS`.
    pub(crate) fn is_trusted_origin(&self, origin: &url::Origin) -> bool {
        origin == &self.own_origin || self.settings.redirects.allowed_return_origins.contains(origin)
    }

    /// The public JWK Set of the `private_key_jwt` keys; `None` without a key. Each key's
    /// `alg` is the one it signs with for this provider (RS256 or PS256 for RSA).
    pub(crate) fn client_jwks(&self) -> Option<Vec<crate::oidc::client_auth::Jwk>> {
        self.provider.client_jwks()
    }

    /// Waits (at most `limit`) for the refreshes in flight to finish storing what the
    /// provider answered; new ones may still start, and are waited for too.
    pub(crate) async fn drain_refreshes(&self, limit: std::time::Duration) {
        self.refreshes.close();
        if tokio::time::timeout(limit, self.refreshes.wait()).await.is_err() {
            tracing::warn!(
                in_flight = self.refreshes.len(),
                "shutting down with refreshes still in flight"
            );
        }
    }

    /// The public keys of the identity assertions (`OIDC_ASSERTION_KEY`); empty without one.
    pub(crate) fn assertion_jwks(&self) -> Vec<crate::oidc::client_auth::Jwk> {
        self.assertions.as_ref().map(|a| a.jwks()).unwrap_or_default()
    }

    /// Ready when the store answers and the provider's metadata and keys are loaded.
    pub(crate) async fn readiness(&self) -> Result<(), NotReady> {
        self.sessions.ping().await.map_err(NotReady::Store)?;
        self.provider.ready()?;
        Ok(())
    }

    /// The Prometheus exposition, with the active-sessions gauge read from the store.
    pub(crate) async fn metrics_text(&self) -> String {
        match self.sessions.count(crate::domain::now()).await {
            Ok(n) => {
                self.metrics.active_sessions.set(n as i64);
            }
            Err(e) => tracing::warn!(error = %crate::util::error_chain(&e), "counting sessions for metrics failed"),
        }
        self.metrics.encode()
    }

    /// The sign-in rules, checked at login and again whenever a refresh brings new claims.
    fn admits(&self, identity: &Identity) -> Result<(), Refusal> {
        self.settings.claims.sign_in_rules.admits(identity)
    }
}
