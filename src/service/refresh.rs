//! Token refresh, race-free across tabs and replicas: one refresh grant per burst.
//!
//! The first caller takes a lock in Redis (it expires by itself, so a crashed holder
//! cannot wedge the session), refreshes, and writes the result into the session; the
//! others wait for the session's `refreshed_at` to move and reuse what it holds. A
//! refresh that happened moments ago is reused too, so a burst that straddles the end
//! of one refresh does not start a second grant (which a rotating provider would treat
//! as token reuse and answer by revoking the whole grant).

use std::time::{Duration, Instant};

use super::sessions::ActiveSession;
use super::Service;
use crate::oidc::id_token::IdTokenError;
use crate::oidc::login::{self, TokenError};
use crate::oidc::provider::NotReady;
use crate::session::{
    now, now_millis, random_token, Claims, SessionKey, SessionRecord, SessionStore, StoreError, StoredTokens, Tokens,
};

/// A refresh younger than this is reused instead of starting another.
const REUSE_WINDOW_MS: u64 = 5_000;
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the session has ended")]
    Ended,
    #[error("the session holds no refresh token")]
    NoRefreshToken,
    #[error("the provider refused the refresh")]
    Provider(#[source] TokenError),
    #[error("the refreshed ID token is not valid")]
    IdToken(#[source] IdTokenError),
    #[error("the refreshed ID token names another issuer or subject (OIDC Core §12.2)")]
    IdentityChanged,
    #[error("the identity provider is not available yet ({0})")]
    ProviderNotReady(NotReady),
    #[error("another refresh of this session did not finish in time")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Service {
    /// Refreshes the session's tokens, or reuses a refresh that just happened.
    pub async fn refresh(&self, active: ActiveSession) -> Result<ActiveSession, RefreshError> {
        let result = self.refresh_or_reuse(active).await;
        self.metrics.refresh(match &result {
            Ok(_) => "ok",
            Err(RefreshError::Ended) => "ended",
            Err(_) => "failed",
        });
        result
    }

    async fn refresh_or_reuse(&self, active: ActiveSession) -> Result<ActiveSession, RefreshError> {
        let ActiveSession {
            key,
            record,
            idle_expires_at,
        } = active;
        let seen = record.refreshed_at;
        if now_millis().saturating_sub(seen) < REUSE_WINDOW_MS {
            return Ok(ActiveSession {
                key,
                record,
                idle_expires_at,
            });
        }
        let owner = random_token();
        let lock_ttl = self.provider.settings.http_timeout + Duration::from_secs(5);
        let deadline = Instant::now() + lock_ttl;
        loop {
            if self.store.try_lock(&key, &owner, lock_ttl).await? {
                let result = self.refresh_locked(&key, seen).await;
                if let Err(e) = self.store.unlock(&key, &owner).await {
                    // The lock expires by itself; nothing is stuck.
                    tracing::warn!(error = %e, "releasing the refresh lock failed");
                }
                return result.map(|record| self.active(key, record));
            }
            tokio::time::sleep(POLL).await;
            match self.store.peek(&key).await? {
                None => return Err(RefreshError::Ended),
                Some(current) if current.refreshed_at != seen => return Ok(self.active(key, current)),
                Some(_) if Instant::now() > deadline => return Err(RefreshError::Busy),
                Some(_) => {}
            }
        }
    }

    fn active(&self, key: SessionKey, record: SessionRecord) -> ActiveSession {
        let idle_expires_at = (now() + self.settings.session.idle_timeout.as_secs()).min(record.expires_at);
        ActiveSession {
            key,
            record,
            idle_expires_at,
        }
    }

    async fn refresh_locked(&self, key: &SessionKey, seen: u64) -> Result<SessionRecord, RefreshError> {
        let mut record = self.store.peek(key).await?.ok_or(RefreshError::Ended)?;
        if record.refreshed_at != seen {
            return Ok(record); // refreshed between our read and our lock
        }
        let keys = self.settings.session.keys.as_ref();
        let old = record.tokens.open(keys, key).map_err(|_| RefreshError::Ended)?;
        let refresh_token = old.refresh_token.clone().ok_or(RefreshError::NoRefreshToken)?;
        let discovered = self.provider.discovered().map_err(RefreshError::ProviderNotReady)?;
        let call = login::refresh(
            &self.provider.settings,
            &discovered.endpoints,
            &self.provider.http,
            &refresh_token,
        );
        let set = match self.metrics.provider_call("token", call).await {
            Ok(set) => set,
            Err(e) if e.is_invalid_grant() => {
                // The grant is gone at the provider: so is the session, on every replica.
                self.store.remove(key).await?;
                tracing::info!("refresh refused by the provider (invalid_grant): session ended");
                return Err(RefreshError::Ended);
            }
            Err(e) => return Err(RefreshError::Provider(e)),
        };
        let id_token = match &set.id_token {
            Some(token) => {
                let verified = self.verify_id_token(token, None).await.map_err(RefreshError::IdToken)?;
                let mut claims = record.claims.to_map();
                let same_issuer = claims
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .is_none_or(|iss| iss == verified.issuer);
                if verified.sub != record.identity.sub || !same_issuer {
                    return Err(RefreshError::IdentityChanged);
                }
                claims.extend(crate::oidc::claims::merge_claims(verified.claims, None));
                record.identity = self.mapping.identity(&verified.sub, &claims);
                record.claims = Claims::new(&claims);
                token.to_string()
            }
            None => old.id_token.clone(),
        };
        record.access_token_expires_at = set.access_token_expires_at;
        record.refreshed_at = now_millis();
        let tokens = Tokens {
            id_token,
            access_token: set.access_token,
            // No new refresh token in the response: the old one stays valid (RFC 6749 §6).
            refresh_token: set.refresh_token.or(old.refresh_token),
        };
        record.tokens = StoredTokens::seal(tokens, keys, key);
        if !self
            .store
            .update(key, &record, self.settings.session.idle_timeout)
            .await?
        {
            return Err(RefreshError::Ended); // logged out while we refreshed
        }
        tracing::info!("tokens refreshed");
        Ok(record)
    }
}
