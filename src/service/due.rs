//! When a session's tokens are refreshed or its identity checked again on the request path
//! (`OIDC_REVALIDATE`, `OIDC_REFRESH_LEEWAY`); the refresh itself is `refresh.rs`'s.

use std::sync::Arc;

use super::refresh::{RefreshError, RefreshKind};
use super::sessions::ActiveSession;
use super::Service;
use crate::config::Revalidate;
use crate::util::error_chain;

impl Service {
    /// A session due to be checked again, after that check: refreshed, or `None` when the
    /// provider or the sign-in rules no longer admit it; as it was when the provider is down
    /// or failing (tried again after [`REVALIDATION_BACKOFF`](super::refresh::REVALIDATION_BACKOFF)).
    pub(crate) async fn revalidated(self: &Arc<Self>, active: ActiveSession) -> Option<ActiveSession> {
        self.refreshed_or_kept(active, RefreshKind::Revalidate).await
    }

    /// Refreshed; `None` when the refresh ended the session; as it was when it failed.
    async fn refreshed_or_kept(self: &Arc<Self>, active: ActiveSession, kind: RefreshKind) -> Option<ActiveSession> {
        match self.refresh(active.clone(), kind).await {
            Ok(refreshed) => Some(refreshed),
            Err(RefreshError::Ended) => None,
            Err(e) => {
                let what = match kind {
                    RefreshKind::Revalidate => "revalidating a session",
                    _ => "refreshing before handing out the access token",
                };
                tracing::warn!(error = %error_chain(&e), "{what} failed: the session is kept as it was");
                Some(active)
            }
        }
    }

    /// Before an access token is handed out, refresh it if it expires within
    /// `OIDC_REFRESH_LEEWAY`. A refresh that ends the session ends it here too; a provider
    /// that is down leaves the current token in place.
    pub(crate) async fn fresh(self: &Arc<Self>, active: ActiveSession) -> Option<ActiveSession> {
        if !active.access_token_due(self.settings.session.refresh_leeway.as_secs()) {
            return Some(active);
        }
        self.refreshed_or_kept(active, RefreshKind::Due).await
    }

    /// Whether the session's identity is due to be checked again: by `OIDC_REVALIDATE`,
    /// when its access token has expired (or its last check is older than the interval).
    /// Only a session with a refresh token can be; the record says so without opening it.
    pub(crate) fn revalidation_due(&self, active: &ActiveSession, now: u64) -> bool {
        let record = &active.record;
        let expired = record.access_token_expires_at.is_some_and(|at| at <= now);
        let due = match self.settings.session.revalidate {
            Revalidate::Never => false,
            Revalidate::Expiry => expired,
            Revalidate::Every(every) => {
                let checked = (record.refreshed_at / 1000).max(record.created_at);
                expired || checked.saturating_add(every.as_secs()) <= now
            }
        };
        due && self.has_refresh_token(&active.key, record)
    }
}

impl ActiveSession {
    /// Whether the access token expires within `leeway` seconds.
    pub(crate) fn access_token_due(&self, leeway: u64) -> bool {
        let now = crate::domain::now();
        self.record
            .access_token_expires_at
            .is_some_and(|at| at <= now.saturating_add(leeway))
    }
}
