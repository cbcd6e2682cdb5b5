//! Token refresh, race-free across tabs and replicas: one refresh grant per burst.
//!
//! The first caller takes a lock in the store (it expires by itself, so a crashed holder
//! cannot wedge the session), refreshes, and writes the result into the session; the
//! others wait for the session's `refreshed_at` to move and reuse what it holds.
//!
//! Once the grant is sent the provider may have rotated the refresh token, so from then on
//! the new tokens must reach the store whatever becomes of the request: the work runs in
//! a task of its own that a caller hanging up does not cancel, and the lock outlives the
//! longest the work can take. Which outcome ends the session:
//! - the provider refuses the grant (`invalid_grant`);
//! - the refreshed ID token is invalid for good (bad signature, wrong audience, another
//!   issuer or subject — OIDC Core §12.2), or its claims no longer pass the claim rules.
//!
//! A transient problem never ends a session: with a provider that is down the old tokens
//! stay; with an ID token signed by a key we cannot fetch yet, the new access and refresh
//! tokens (straight from the token endpoint over TLS) are kept with the old identity.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sessions::ActiveSession;
use super::{Refusal, Service};
use crate::domain::{now_millis, Claims, Tokens};
use crate::oidc::claims::merge_claims;
use crate::oidc::id_token::IdTokenError;
use crate::oidc::login::{TokenError, TokenSet};
use crate::oidc::provider::NotReady;
use crate::session::{SaveError, SessionKey, SessionRecord, StoreError};
use crate::util::{error_chain, random_token};

/// A refresh younger than this is reused by callers that only need fresh-enough tokens.
const REUSE_WINDOW_MS: u64 = 5_000;
const POLL: Duration = Duration::from_millis(50);
/// What the locked work may take besides its two provider calls (grant, key re-fetch),
/// each bounded by `OIDC_HTTP_TIMEOUT`: a few store calls of at most 2 s each.
const STORE_ALLOWANCE: Duration = Duration::from_secs(8);

/// How long the locked work may take, and how long its lock lasts: the work is a grant and
/// at most one key re-fetch (each bounded by `OIDC_HTTP_TIMEOUT`) plus a few store calls,
/// and the lock outlives it, so no second grant can start while the first is in flight.
fn refresh_bounds(http_timeout: Duration) -> (Duration, Duration) {
    let work = http_timeout.saturating_mul(2).saturating_add(STORE_ALLOWANCE);
    (work, work.saturating_add(Duration::from_secs(5)))
}

/// Who asks for the refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshKind {
    /// `POST /auth/refresh`: refresh now, unless a refresh completed while this one waited.
    Explicit,
    /// Before handing out an access token close to expiry: a refresh moments ago will do.
    Due,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RefreshError {
    #[error("the session has ended")]
    Ended,
    #[error("the session holds no refresh token")]
    NoRefreshToken,
    #[error("the provider refused the refresh")]
    Provider(#[source] TokenError),
    #[error("the identity provider is not available yet")]
    ProviderNotReady(#[source] NotReady),
    #[error("another refresh of this session did not finish in time")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a refresh ends the session although the provider granted it.
#[derive(Debug, thiserror::Error)]
enum EndReason {
    #[error("the refreshed ID token is not valid")]
    IdToken(#[source] IdTokenError),
    #[error("the refreshed ID token names another issuer or subject (OIDC Core §12.2)")]
    IdentityChanged,
    #[error("the refreshed claims no longer pass the claim rules")]
    Refused(#[source] Refusal),
    #[error("the refreshed tokens cannot be stored")]
    TooLarge(#[source] crate::session::TooLarge),
}

impl Service {
    /// Refreshes the session's tokens (or reuses a refresh that just happened).
    pub(crate) async fn refresh(
        self: &Arc<Self>,
        active: ActiveSession,
        kind: RefreshKind,
    ) -> Result<ActiveSession, RefreshError> {
        let result = self.refresh_or_reuse(active, kind).await;
        self.metrics.refresh(match &result {
            Ok(_) => "ok",
            Err(RefreshError::Ended) => "ended",
            Err(_) => "failed",
        });
        result
    }

    async fn refresh_or_reuse(
        self: &Arc<Self>,
        active: ActiveSession,
        kind: RefreshKind,
    ) -> Result<ActiveSession, RefreshError> {
        let seen = active.record.refreshed_at;
        if kind == RefreshKind::Due && now_millis().saturating_sub(seen) < REUSE_WINDOW_MS {
            return Ok(active);
        }
        // Detached from the caller: a client hanging up must not cancel a started grant.
        let this = self.clone();
        let key = active.key;
        let work = tokio::spawn(async move { this.refresh_with_lock(key, seen).await });
        match work.await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "the refresh task failed");
                Err(RefreshError::Busy)
            }
        }
    }

    async fn refresh_with_lock(&self, key: SessionKey, seen: u64) -> Result<ActiveSession, RefreshError> {
        let (work_bound, lock_ttl) = refresh_bounds(self.settings.provider.http_timeout);
        let owner = random_token();
        let deadline = Instant::now() + lock_ttl;
        loop {
            if self.sessions.lock(&key, &owner, lock_ttl).await? {
                let result = tokio::time::timeout(work_bound, self.refresh_locked(&key, seen))
                    .await
                    .unwrap_or(Err(RefreshError::Busy));
                if let Err(e) = self.sessions.unlock(&key, &owner).await {
                    // The lock expires by itself; nothing is stuck.
                    tracing::warn!(error = %error_chain(&e), "releasing the refresh lock failed");
                }
                return result.map(|record| self.active(key, record));
            }
            tokio::time::sleep(POLL).await;
            match self.sessions.peek(&key).await? {
                None => return Err(RefreshError::Ended),
                Some(current) if current.refreshed_at != seen => return Ok(self.active(key, current)),
                Some(_) if Instant::now() > deadline => return Err(RefreshError::Busy),
                Some(_) => {}
            }
        }
    }

    async fn refresh_locked(&self, key: &SessionKey, seen: u64) -> Result<SessionRecord, RefreshError> {
        let record = self.sessions.peek(key).await?.ok_or(RefreshError::Ended)?;
        if record.refreshed_at != seen {
            return Ok(record); // refreshed while we waited for the lock
        }
        let Some(old) = self.tokens(key, &record) else {
            // Sealed under a key no longer configured: nothing can use this session.
            self.sessions.remove(key).await?;
            return Err(RefreshError::Ended);
        };
        let refresh_token = old.refresh_token.clone().ok_or(RefreshError::NoRefreshToken)?;
        let set = match self.provider.refresh(&refresh_token).await {
            Ok(set) => set,
            Err(TokenError::NotReady(e)) => return Err(RefreshError::ProviderNotReady(e)),
            Err(e) if e.is_invalid_grant() => {
                // The grant is gone at the provider: so is the session, on every replica.
                self.sessions.remove(key).await?;
                tracing::info!("refresh refused by the provider (invalid_grant): session ended");
                return Err(RefreshError::Ended);
            }
            Err(e) => return Err(RefreshError::Provider(e)),
        };
        let refreshed = self.apply(record, old, set).await;
        let new_refresh_token = refreshed.1.refresh_token.clone();
        let ended = match refreshed {
            (Ok(record), tokens) => match self
                .sessions
                .update(key, record, &tokens, self.settings.session.idle_timeout)
                .await
            {
                Ok((record, true)) => {
                    tracing::info!("tokens refreshed");
                    return Ok(record);
                }
                // Logged out while we refreshed: the token just issued must not outlive it.
                Ok((_, false)) => None,
                Err(SaveError::TooLarge(e)) => Some(EndReason::TooLarge(e)),
                Err(SaveError::Store(e)) => {
                    self.revoke_later(new_refresh_token);
                    return Err(e.into());
                }
            },
            (Err(reason), _) => Some(reason),
        };
        if let Some(reason) = ended {
            tracing::warn!(reason = %error_chain(&reason), "refresh ended the session");
            self.sessions.remove(key).await?;
        }
        self.revoke_later(new_refresh_token);
        Err(RefreshError::Ended)
    }

    fn revoke_later(&self, refresh_token: Option<String>) {
        if let Some(token) = refresh_token {
            self.revoker.revoke_later(token);
        }
    }

    /// The session as the refresh leaves it, and the tokens to store; or why it must end.
    async fn apply(
        &self,
        mut record: SessionRecord,
        old: Tokens,
        set: TokenSet,
    ) -> (Result<SessionRecord, EndReason>, Tokens) {
        let mut tokens = Tokens {
            id_token: old.id_token,
            access_token: set.access_token,
            // No new refresh token in the response: the old one stays valid (RFC 6749 §6).
            refresh_token: set.refresh_token.or(old.refresh_token),
        };
        record.access_token_expires_at = set.access_token_expires_at;
        record.refreshed_at = now_millis();
        let Some(id_token) = set.id_token else {
            return (Ok(record), tokens); // nothing new about the user
        };
        let verified = match self.provider.verify_id_token(&id_token, None).await {
            Ok(verified) => verified,
            Err(e) if e.is_unknown_key() || matches!(e, IdTokenError::ProviderNotReady(_)) => {
                tracing::warn!("the refreshed ID token names a key not available yet: identity kept as it was");
                return (Ok(record), tokens);
            }
            Err(e) => return (Err(EndReason::IdToken(e)), tokens),
        };
        let old_claims = record.claims.to_map();
        let same_issuer = old_claims
            .get("iss")
            .and_then(|v| v.as_str())
            .is_none_or(|iss| iss == verified.issuer);
        if verified.sub != record.identity.sub || !same_issuer {
            return (Err(EndReason::IdentityChanged), tokens);
        }
        // The refreshed claims replace the old ones whole, as at login: the new ID token's,
        // overlaid with fresh userinfo. A claim the provider stopped sending is gone.
        let userinfo = match self.refreshed_userinfo(&tokens.access_token, &verified.sub).await {
            Ok(userinfo) => userinfo,
            Err(()) => return (Ok(record), tokens),
        };
        let claims = merge_claims(verified.claims, userinfo);
        let identity = self.mapping.identity(&verified.sub, &claims);
        if let Err(refusal) = self.admits(&identity) {
            return (Err(EndReason::Refused(refusal)), tokens);
        }
        record.identity = identity;
        record.claims = Claims::new(&claims);
        // `record.sid` stays the login's: the store indexes a session under the sid it was
        // created with, and back-channel logout finds it only by that one.
        tokens.id_token = id_token.to_string();
        (Ok(record), tokens)
    }

    /// Userinfo at refresh, when login used it too; `Err` when it failed (a transient
    /// problem: the old identity stays).
    async fn refreshed_userinfo(
        &self,
        access_token: &str,
        sub: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ()> {
        self.provider.userinfo(access_token, sub).await.map_err(|e| {
            tracing::warn!(error = %error_chain(&e), "userinfo at refresh failed: identity kept as it was");
        })
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

impl Service {
    /// Before an access token is handed out, refresh it if it expires within
    /// `OIDC_REFRESH_LEEWAY`. A refresh that ends the session ends it here too; a provider
    /// that is down leaves the current token in place.
    pub(crate) async fn fresh(self: &Arc<Self>, active: ActiveSession) -> Option<ActiveSession> {
        if !active.access_token_due(self.settings.session.refresh_leeway.as_secs()) {
            return Some(active);
        }
        match self.refresh(active.clone(), RefreshKind::Due).await {
            Ok(refreshed) => Some(refreshed),
            Err(RefreshError::Ended) => None,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "refresh before handing out the access token failed");
                Some(active)
            }
        }
    }
}

#[cfg(test)]
mod bounds_tests {
    use super::*;

    #[test]
    fn the_refresh_lock_outlives_a_grant_and_a_key_refetch_at_any_http_timeout() {
        for secs in [1, 10, 60, 300] {
            let http = Duration::from_secs(secs);
            let (work, lock) = refresh_bounds(http);
            assert!(
                work >= http * 2 + STORE_ALLOWANCE,
                "the work may take two provider calls"
            );
            assert!(lock > work, "the lock outlives the work it guards");
        }
        let (work, lock) = refresh_bounds(Duration::MAX);
        assert!(lock >= work, "no overflow at absurd values");
    }
}
