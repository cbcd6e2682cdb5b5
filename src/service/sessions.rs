//! Reading and ending sessions.

use std::time::Duration;

use url::Url;

use super::Service;
use crate::oidc::login;
use crate::oidc::logout::end_session_url;
use crate::oidc::provider::error_chain;
use crate::session::{now, random_token, SessionId, SessionKey, SessionRecord, SessionStore, StoreError, Tokens};

/// A live session, as read (and kept alive) by a request.
pub struct ActiveSession {
    pub key: SessionKey,
    pub record: SessionRecord,
    /// When the session ends if it is not used again.
    pub idle_expires_at: u64,
}

impl Service {
    /// The live session behind a cookie value, sliding its idle timeout: one Redis round
    /// trip. Garbage, unknown and ended sessions are all `None`.
    pub async fn session(&self, cookie_value: Option<&str>) -> Result<Option<ActiveSession>, StoreError> {
        let Some(id) = cookie_value.and_then(SessionId::parse) else {
            return Ok(None);
        };
        let key = id.key();
        let idle = self.settings.session.idle_timeout;
        let now = now();
        let Some(record) = self.store.load(&key, idle, now).await? else {
            return Ok(None);
        };
        if record.expires_at <= now {
            return Ok(None);
        }
        // Without a refresh token nothing can renew the access token: the session ends with it.
        if record.access_token_expires_at.is_some_and(|at| at <= now) && !self.has_refresh_token(&record, &key) {
            self.end(&key).await?;
            return Ok(None);
        }
        let idle_expires_at = (now + idle.as_secs()).min(record.expires_at);
        Ok(Some(ActiveSession {
            key,
            record,
            idle_expires_at,
        }))
    }

    fn has_refresh_token(&self, record: &SessionRecord, key: &SessionKey) -> bool {
        self.tokens(record, key).is_some_and(|t| t.refresh_token.is_some())
    }

    /// The session's tokens; `None` when they cannot be decrypted with any configured key.
    pub fn tokens(&self, record: &SessionRecord, key: &SessionKey) -> Option<Tokens> {
        record.tokens.open(self.settings.session.keys.as_ref(), key).ok()
    }

    /// Ends a session and revokes its refresh token at the provider (RFC 7009), so that
    /// no offline grant outlives the logout.
    pub async fn end(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let removed = self.store.remove(key).await?;
        if let Some(record) = &removed {
            if let Some(refresh_token) = self.tokens(record, key).and_then(|t| t.refresh_token) {
                self.revoke(refresh_token).await;
            }
        }
        Ok(removed)
    }

    async fn revoke(&self, refresh_token: String) {
        let Ok(discovered) = self.provider.discovered() else {
            return;
        };
        if discovered.endpoints.revocation.is_none() {
            return;
        }
        let revoked = tokio::time::timeout(
            self.provider.settings.http_timeout + Duration::from_secs(1),
            self.metrics.provider_call(
                "revocation",
                login::revoke(
                    &self.provider.settings,
                    &discovered.endpoints,
                    &self.provider.http,
                    &refresh_token,
                ),
            ),
        )
        .await;
        match revoked {
            Ok(Ok(())) => tracing::debug!("refresh token revoked"),
            Ok(Err(e)) => {
                tracing::warn!(error = %error_chain(&e), "revoking the refresh token failed")
            }
            Err(_) => tracing::warn!("revoking the refresh token timed out"),
        }
    }

    /// RP-initiated logout: ends the local session (if any) and says where the browser goes.
    pub async fn logout(&self, cookie_value: Option<&str>) -> Result<Url, StoreError> {
        self.metrics.logout("rp_initiated");
        let ended = match cookie_value.and_then(SessionId::parse) {
            Some(id) => {
                let key = id.key();
                let record = self.end(&key).await?;
                record.and_then(|r| self.tokens(&r, &key))
            }
            None => None,
        };
        let post_logout = self.settings.redirects.post_logout.as_ref();
        let end_session = self
            .provider
            .discovered()
            .ok()
            .and_then(|d| d.endpoints.end_session.clone());
        Ok(match end_session {
            Some(endpoint) => end_session_url(
                &endpoint,
                ended.as_ref().map(|t| t.id_token.as_str()),
                &self.provider.settings.client_id,
                post_logout,
                &random_token(),
            ),
            None => post_logout.cloned().unwrap_or_else(|| {
                self.settings
                    .provider
                    .redirect_uri
                    .join("/")
                    .expect("the redirect URI is absolute")
            }),
        })
    }
}
