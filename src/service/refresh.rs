//! Token refresh, race-free across tabs and replicas: one refresh grant per burst.
//!
//! The first caller takes a lock in the store (it expires by itself, so a crashed holder
//! cannot wedge the session), refreshes, and writes the result into the session; the
//! others wait for the session's `refreshed_at` to move and reuse what it holds.
//!
//! Once the grant is sent the provider may have rotated the refresh token, so from then on
//! the new tokens must reach the store whatever becomes of the request. The work runs in a
//! task of its own that a caller hanging up does not cancel and that shutdown waits for,
//! and in two phases: first the grant, whose tokens are stored at once (or revoked, when
//! the session ended meanwhile); then the checks of what it says about the user (the new
//! ID token, or userinfo when it brought none, and the sign-in rules), which may fail or
//! time out without losing those tokens. The lock outlives both. Which outcome ends the
//! session:
//! - the provider refuses the grant (`invalid_grant`);
//! - the refreshed ID token is invalid for good (bad signature, wrong audience, another
//!   issuer or subject — OIDC Core §12.2), or the refreshed claims no longer pass the
//!   sign-in rules.
//!
//! A transient problem never ends a session: with a provider that is down the old tokens
//! stay; with an ID token signed by a key we cannot fetch yet, or userinfo failing, the
//! new tokens are kept with the old identity.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument as _;

use super::sessions::ActiveSession;
use super::{Refusal, Service};
use crate::domain::{now_millis, Authentication, Claims, Tokens};
use openidconnect::core::CoreIdToken;

use crate::oidc::claims::merge_claims;
use crate::oidc::id_token::IdTokenError;
use crate::oidc::login::{TokenError, TokenSet};
use crate::oidc::provider::NotReady;
use crate::session::{SaveError, SessionKey, SessionRecord, StoreError};
use crate::util::{error_chain, random_token};

/// A refresh younger than this is reused by callers that only need fresh-enough tokens.
const REUSE_WINDOW_MS: u64 = 5_000;
const POLL: Duration = Duration::from_millis(50);
/// What each phase may take besides its provider calls (each bounded by
/// `OIDC_HTTP_TIMEOUT`): a few store calls of at most 2 s each.
const STORE_ALLOWANCE: Duration = Duration::from_secs(8);
/// After a transient failure (provider down), a revalidation is tried again at most this often.
pub(crate) const REVALIDATION_BACKOFF: Duration = Duration::from_secs(30);

/// The bound of the second phase (a key re-fetch and userinfo: two provider calls) and how
/// long the lock lasts: it outlives both phases (the first is the grant, bounded by its own
/// HTTP timeout and store calls), so no second grant can start while the first is in flight.
fn refresh_bounds(http_timeout: Duration) -> (Duration, Duration) {
    let checks = http_timeout.saturating_mul(2).saturating_add(STORE_ALLOWANCE);
    let grant = http_timeout.saturating_add(STORE_ALLOWANCE);
    (
        checks,
        grant.saturating_add(checks).saturating_add(Duration::from_secs(5)),
    )
}

/// Who asks for the refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshKind {
    /// `POST /auth/refresh`: refresh now, unless a refresh completed while this one waited.
    Explicit,
    /// Before handing out an access token close to expiry: a refresh moments ago will do.
    Due,
    /// The identity is due to be checked again (`OIDC_REVALIDATE`); like `Due`, but after a
    /// transient failure not tried again for [`REVALIDATION_BACKOFF`].
    Revalidate,
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
    #[error("the refreshed claims no longer pass the sign-in rules")]
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
        if kind != RefreshKind::Explicit && now_millis().saturating_sub(seen) < REUSE_WINDOW_MS {
            return Ok(active);
        }
        if kind == RefreshKind::Revalidate && self.sessions.revalidation_backed_off(&active.key).await? {
            return Ok(active);
        }
        // Detached from the caller: a client hanging up must not cancel a started grant;
        // tracked, so that shutdown waits for it; still in the request's span (its trace).
        let this = self.clone();
        let key = active.key;
        let work = self
            .refreshes
            .spawn(async move { this.refresh_with_lock(key, seen, kind).await }.in_current_span());
        match work.await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "the refresh task failed");
                Err(RefreshError::Busy)
            }
        }
    }

    async fn refresh_with_lock(
        &self,
        key: SessionKey,
        seen: u64,
        kind: RefreshKind,
    ) -> Result<ActiveSession, RefreshError> {
        let (_, lock_ttl) = refresh_bounds(self.settings.provider.http_timeout);
        let owner = random_token();
        let deadline = Instant::now() + lock_ttl;
        loop {
            if self.sessions.lock(&key, &owner, lock_ttl).await? {
                let result = self.refresh_locked(&key, seen).await;
                if kind == RefreshKind::Revalidate
                    && matches!(
                        result,
                        Err(RefreshError::Provider(_) | RefreshError::ProviderNotReady(_))
                    )
                {
                    self.sessions.back_off_revalidation(&key, REVALIDATION_BACKOFF).await;
                }
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
        let id_token = set.id_token.clone();
        // Phase one: the tokens the provider just issued are stored before anything else.
        let (record, tokens) = self.granted(record, old, set);
        let new_refresh_token = tokens.refresh_token.clone();
        let idle = self.settings.session.idle_timeout;
        let record = match self.sessions.update(key, record, &tokens, idle).await {
            Ok((record, true)) => record,
            // Logged out while we refreshed: the token just issued must not outlive it.
            Ok((_, false)) => {
                self.revoke_later(new_refresh_token);
                return Err(RefreshError::Ended);
            }
            Err(SaveError::TooLarge(e)) => {
                return self.end_refreshed(key, EndReason::TooLarge(e), new_refresh_token).await
            }
            Err(SaveError::Store(e)) => {
                // Nowhere to keep them: the grant is revoked rather than left dangling.
                self.revoke_later(new_refresh_token);
                return Err(e.into());
            }
        };
        tracing::info!("tokens refreshed");
        // Phase two: what the refresh says about the user. Bounded; a failure or a timeout
        // keeps the identity as it was, never the tokens from being kept.
        let (checks_bound, _) = refresh_bounds(self.settings.provider.http_timeout);
        let checked = match tokio::time::timeout(checks_bound, self.recheck(record.clone(), &tokens, id_token)).await {
            Ok(checked) => checked,
            Err(_) => {
                tracing::warn!("checking the refreshed identity timed out: identity kept as it was");
                return Ok(record);
            }
        };
        match checked {
            Ok(None) => Ok(record),
            Ok(Some((changed, tokens))) => match self.sessions.update(key, changed, &tokens, idle).await {
                Ok((changed, true)) => Ok(changed),
                Ok((_, false)) => {
                    self.revoke_later(new_refresh_token);
                    Err(RefreshError::Ended)
                }
                Err(SaveError::TooLarge(e)) => self.end_refreshed(key, EndReason::TooLarge(e), new_refresh_token).await,
                // The tokens are stored; only the new identity is not: tried again later.
                Err(SaveError::Store(e)) => {
                    tracing::warn!(error = %error_chain(&e), "storing the refreshed identity failed: kept as it was");
                    Ok(record)
                }
            },
            Err(reason) => self.end_refreshed(key, reason, new_refresh_token).await,
        }
    }

    /// Ends a session that a refresh showed must end, and revokes the token it just got.
    async fn end_refreshed(
        &self,
        key: &SessionKey,
        reason: EndReason,
        new_refresh_token: Option<String>,
    ) -> Result<SessionRecord, RefreshError> {
        tracing::warn!(reason = %error_chain(&reason), "refresh ended the session");
        self.sessions.remove(key).await?;
        self.revoke_later(new_refresh_token);
        Err(RefreshError::Ended)
    }

    fn revoke_later(&self, refresh_token: Option<String>) {
        if let Some(token) = refresh_token {
            self.revoker.revoke_later(token);
        }
    }

    /// The session and tokens as the grant leaves them, identity unchanged; and the new ID
    /// token, if the provider sent one.
    fn granted(&self, mut record: SessionRecord, old: Tokens, set: TokenSet) -> (SessionRecord, Tokens) {
        let tokens = Tokens {
            id_token: old.id_token,
            access_token: set.access_token,
            // No new refresh token in the response: the old one stays valid (RFC 6749 §6).
            refresh_token: set.refresh_token.or(old.refresh_token),
        };
        record.access_token_expires_at = set.access_token_expires_at;
        record.refreshed_at = now_millis();
        (record, tokens)
    }

    /// The identity the refresh shows: from the new ID token (OIDC Core §12.2: same `iss`
    /// and `sub`), overlaid with fresh userinfo; without an ID token, from userinfo alone
    /// (over the claims the session has). `Ok(None)`: nothing new to store. `Err`: the
    /// session must end.
    async fn recheck(
        &self,
        mut record: SessionRecord,
        tokens: &Tokens,
        id_token: Option<CoreIdToken>,
    ) -> Result<Option<(SessionRecord, Tokens)>, EndReason> {
        let sub = record.identity.sub.clone();
        let base = match &id_token {
            Some(id_token) => {
                let verified = match self.provider.verify_id_token(id_token, None).await {
                    Ok(verified) => verified,
                    Err(e) if e.is_unknown_key() || matches!(e, IdTokenError::ProviderNotReady(_)) => {
                        tracing::warn!("the refreshed ID token names a key not available yet: identity kept as it was");
                        return Ok(None);
                    }
                    Err(e) => return Err(EndReason::IdToken(e)),
                };
                let same_issuer = record
                    .claims
                    .to_map()
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .is_none_or(|iss| iss == verified.issuer);
                if verified.sub != sub || !same_issuer {
                    return Err(EndReason::IdentityChanged);
                }
                let newer = Authentication::from_claims(&verified.claims);
                record.authentication = std::mem::take(&mut record.authentication).updated_by(newer);
                verified.claims
            }
            None => record.claims.to_map(),
        };
        let Ok(userinfo) = self.refreshed_userinfo(&tokens.access_token, &sub).await else {
            return Ok(None);
        };
        if id_token.is_none() && userinfo.is_none() {
            return Ok(None); // nothing new about the user
        }
        // The refreshed claims replace the old ones whole, as at login: a claim the
        // provider stopped sending is gone.
        let claims = merge_claims(base, userinfo);
        let identity = self.mapping.identity(&sub, &claims);
        if let Err(refusal) = self.admits(&identity) {
            return Err(EndReason::Refused(refusal));
        }
        record.identity = identity;
        record.claims = Claims::new(&claims);
        // `record.sid` stays the login's: the store indexes a session under the sid it was
        // created with, and back-channel logout finds it only by that one.
        let mut tokens = tokens.clone();
        if let Some(id_token) = id_token {
            tokens.id_token = id_token.to_string();
        }
        Ok(Some((record, tokens)))
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

#[cfg(test)]
mod bounds_tests {
    use super::*;

    #[test]
    fn the_refresh_lock_outlives_the_grant_and_the_checks_at_any_http_timeout() {
        for secs in [1, 10, 60, 300] {
            let http = Duration::from_secs(secs);
            let (checks, lock) = refresh_bounds(http);
            assert!(
                checks >= http * 2 + STORE_ALLOWANCE,
                "the checks may take two provider calls"
            );
            let grant = http + STORE_ALLOWANCE;
            assert!(lock > grant + checks, "the lock outlives both phases it guards");
        }
        let (work, lock) = refresh_bounds(Duration::MAX);
        assert!(lock >= work, "no overflow at absurd values");
    }
}
