//! What the endpoints do, apart from HTTP: login, sessions, logout. Handlers translate
//! requests into calls on [`Service`] and its answers back into responses.

pub mod backchannel;
pub(crate) mod gateway;
pub mod login;
pub mod refresh;
pub mod return_to;
pub mod sessions;

use std::sync::Arc;

use crate::config::Settings;
use crate::oidc::claims::ClaimMapping;
use crate::oidc::provider::Provider;
use crate::session::cookie::Cookies;
use crate::session::redis::RedisStore;
use crate::telemetry::metrics::Metrics;

pub struct Service {
    pub settings: Arc<Settings>,
    pub provider: Arc<Provider>,
    pub store: Arc<RedisStore>,
    pub cookies: Cookies,
    pub mapping: ClaimMapping,
    pub metrics: Arc<Metrics>,
    own_origin: url::Origin,
}

impl Service {
    pub fn new(
        settings: Arc<Settings>,
        provider: Arc<Provider>,
        store: Arc<RedisStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mapping = ClaimMapping {
            username: settings.claims.username.clone(),
            email: settings.claims.email.clone(),
            groups: settings.claims.groups.clone(),
        };
        Self {
            cookies: Cookies::new(settings.cookie.clone()),
            own_origin: settings.provider.redirect_uri.origin(),
            mapping,
            metrics,
            settings,
            provider,
            store,
        }
    }
}

impl Service {
    /// This site, or one of `OIDC_ALLOWED_RETURN_ORIGINS`.
    pub fn is_trusted_origin(&self, origin: &url::Origin) -> bool {
        origin == &self.own_origin || self.settings.redirects.allowed_return_origins.contains(origin)
    }
}
