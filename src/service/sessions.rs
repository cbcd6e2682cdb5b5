//! Reading and ending sessions.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::Service;
use crate::domain::now;
use crate::session::{SessionId, SessionKey, SessionRecord, StoreError, Tokens};
use crate::util::random_token;

/// A live session, as read (and kept alive) by a request.
#[derive(Clone)]
pub(crate) struct ActiveSession {
    pub(crate) key: SessionKey,
    pub(crate) record: SessionRecord,
    /// When the session ends if it is not used again.
    pub(crate) idle_expires_at: u64,
}

/// How an ended session's refresh token is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// Queued; the caller does not wait (back-channel logout, refresh policy).
    Later,
    /// Queued, and waited for briefly (RP-initiated logout, before the browser leaves).
    Now,
}

/// A live session as a backend sees it: the access token only when tokens are exposed.
pub(crate) struct Exposed {
    pub(crate) session: ActiveSession,
    pub(crate) access_token: Option<String>,
}

impl Service {
    /// The live session behind a cookie value, sliding its idle timeout: one store round
    /// trip, unless its identity is due to be checked again with the provider
    /// (`OIDC_REVALIDATE`): then it is refreshed first, and a session the provider or the
    /// sign-in rules no longer admit is `None` already. Garbage, unknown and ended sessions
    /// are all `None`.
    pub(crate) async fn session(
        self: &Arc<Self>,
        cookie_value: Option<&str>,
    ) -> Result<Option<ActiveSession>, StoreError> {
        let Some(id) = cookie_value.and_then(SessionId::parse) else {
            return Ok(None);
        };
        let key = id.key();
        let idle = self.settings.session.idle_timeout;
        let now = now();
        let Some(record) = self.sessions.load(&key, idle, now).await? else {
            return Ok(None);
        };
        if record.expires_at <= now {
            return Ok(None);
        }
        // Without a refresh token nothing can renew the access token: the session ends with it.
        // The rare branches' futures are boxed: inline, their size (a provider call's) would
        // be every request's, copied into each box poem puts a request's future in.
        if record.access_token_expires_at.is_some_and(|at| at <= now) && !self.has_refresh_token(&key, &record) {
            Box::pin(self.end(&key, Revocation::Later)).await?;
            return Ok(None);
        }
        let active = self.active(key, record);
        if !self.revalidation_due(&active, now) {
            return Ok(Some(active));
        }
        Ok(Box::pin(self.revalidated(active)).await)
    }

    /// Ends the user's oldest sessions beyond `OIDC_MAX_SESSIONS_PER_USER` (oldest by
    /// absolute end, to the second), their refresh tokens revoked; never `new`, the one just
    /// signed in. A failure here leaves that sign-in in place.
    pub(crate) async fn limit_sessions_of(&self, sub: &str, new: &SessionKey) {
        let cap = self.settings.session.max_sessions_per_user;
        let keys = match self.sessions.keys_by_sub(sub).await {
            Ok(mut keys) if keys.len() > cap => {
                keys.retain(|k| k != new);
                keys
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %crate::util::error_chain(&e), "counting the user's sessions failed");
                return;
            }
        };
        // `keys` lacks the new session, which counts towards the limit too.
        let excess = keys.len() + 1 - cap;
        for key in keys.into_iter().take(excess) {
            if let Err(e) = self.end(&key, Revocation::Later).await {
                tracing::warn!(error = %crate::util::error_chain(&e), "ending a session over the per-user limit failed");
                return;
            }
            self.metrics.logout("session_limit");
        }
        tracing::info!(
            ended = excess,
            "sign-in beyond OIDC_MAX_SESSIONS_PER_USER: the user's oldest sessions ended"
        );
    }

    pub(crate) fn active(&self, key: SessionKey, record: SessionRecord) -> ActiveSession {
        let idle = self.settings.session.idle_timeout.as_secs();
        let idle_expires_at = now().saturating_add(idle).min(record.expires_at);
        ActiveSession {
            key,
            record,
            idle_expires_at,
        }
    }

    pub(super) fn has_refresh_token(&self, key: &SessionKey, record: &SessionRecord) -> bool {
        record
            .refreshable
            .unwrap_or_else(|| self.tokens(key, record).is_some_and(|t| t.refresh_token.is_some()))
    }

    /// A live session for a backend (`/introspect`), as the token-exposure policy
    /// (`OIDC_INTROSPECTION_EXPOSE_TOKENS`) says.
    pub(crate) async fn introspect(
        self: &Arc<Self>,
        cookie_value: Option<&str>,
    ) -> Result<Option<Exposed>, StoreError> {
        Ok(match self.session(cookie_value).await? {
            Some(active) => self.expose(active).await,
            None => None,
        })
    }

    /// The session as a backend may see it: with tokens exposed, its access token,
    /// refreshed first when it expires within `OIDC_REFRESH_LEEWAY`; `None` when that
    /// refresh ended the session. Without, never a token.
    pub(crate) async fn expose(self: &Arc<Self>, active: ActiveSession) -> Option<Exposed> {
        if !self.settings.introspection_expose_tokens {
            return Some(Exposed {
                session: active,
                access_token: None,
            });
        }
        // Boxed, as `session`'s rare branches are.
        let session = Box::pin(self.fresh(active)).await?;
        let access_token = self.tokens(&session.key, &session.record).map(|t| t.access_token);
        Some(Exposed { session, access_token })
    }

    /// The session's tokens; `None` when they cannot be opened with any configured key.
    pub(crate) fn tokens(&self, key: &SessionKey, record: &SessionRecord) -> Option<Tokens> {
        self.sessions.tokens(key, record)
    }

    /// Ends a session and has its refresh token revoked at the provider (RFC 7009), so
    /// that no offline grant outlives it.
    pub(crate) async fn end(
        &self,
        key: &SessionKey,
        revocation: Revocation,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let removed = self.sessions.remove(key).await?;
        if let Some(refresh_token) = removed.as_ref().and_then(|r| self.tokens(key, r)?.refresh_token) {
            match revocation {
                Revocation::Later => self.revoker.revoke_later(refresh_token),
                Revocation::Now => {
                    let limit = self
                        .settings
                        .provider
                        .http_timeout
                        .saturating_add(Duration::from_secs(1));
                    self.revoker.revoke_now(refresh_token, limit).await;
                }
            }
        }
        Ok(removed)
    }

    /// RP-initiated logout: ends the local session (if any) and says where the browser goes.
    pub(crate) async fn logout(&self, cookie_value: Option<&str>) -> Result<Url, StoreError> {
        self.metrics.logout("rp_initiated");
        let ended = match cookie_value.and_then(SessionId::parse) {
            Some(id) => {
                let key = id.key();
                let record = self.end(&key, Revocation::Now).await?;
                record.and_then(|r| self.tokens(&key, &r))
            }
            None => None,
        };
        let post_logout = self.settings.redirects.post_logout.as_ref();
        let hint = ended.as_ref().map(|t| t.id_token.as_str());
        Ok(
            match self.provider.end_session_url(hint, post_logout, &random_token()) {
                Some(url) => url,
                None => post_logout.cloned().unwrap_or_else(|| {
                    self.settings
                        .provider
                        .redirect_uri
                        .join("/")
                        .expect("the redirect URI is absolute")
                }),
            },
        )
    }
}
