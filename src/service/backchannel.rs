//! OpenID Connect Back-Channel Logout 1.0: a verified `logout_token` ends every matching
//! session, on every replica (the indexes live in Redis).

use std::time::Duration;

use super::Service;
use crate::oidc::logout_token::{verify_logout_token, LogoutClaims, LogoutTokenError, LogoutTokenPolicy};
use crate::oidc::provider::NotReady;
use crate::session::{now, SessionKey, SessionStore, StoreError};

/// How long a token without `exp` stays acceptable after its `iat` (older providers
/// omit `exp`); also the replay window remembered for it.
const NO_EXP_WINDOW: u64 = 300;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackchannelError {
    #[error(transparent)]
    Invalid(#[from] LogoutTokenError),
    #[error("the logout token has no `exp` and was issued more than {NO_EXP_WINDOW} s ago")]
    Stale,
    #[error("this logout token was already used (replayed `jti`)")]
    Replayed,
    #[error("the identity provider's keys are not loaded yet ({0})")]
    ProviderNotReady(NotReady),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Service {
    /// Verifies `token` and ends the sessions it names; returns how many ended.
    pub(crate) async fn backchannel_logout(&self, token: &str) -> Result<usize, BackchannelError> {
        let result = self.verified_backchannel_logout(token).await;
        self.metrics.logout(match &result {
            Ok(_) => "backchannel_accepted",
            Err(BackchannelError::Store(_) | BackchannelError::ProviderNotReady(_)) => "backchannel_deferred",
            Err(_) => "backchannel_refused",
        });
        result
    }

    async fn verified_backchannel_logout(&self, token: &str) -> Result<usize, BackchannelError> {
        let claims = self.verify_logout_token(token).await?;
        let now = now();
        let skew = self.provider.settings.clock_skew.as_secs();
        let valid_until = match claims.exp {
            Some(exp) => exp,
            None if claims.iat + NO_EXP_WINDOW + skew < now => return Err(BackchannelError::Stale),
            None => claims.iat + NO_EXP_WINDOW,
        };
        let remember = Duration::from_secs((valid_until + skew).saturating_sub(now).max(60));
        if !self
            .store
            .remember_jti(&format!("{}\u{0}{}", claims.iss, claims.jti), remember)
            .await?
        {
            return Err(BackchannelError::Replayed);
        }
        let keys = self.matching_sessions(&claims).await?;
        let mut ended = 0;
        for key in keys {
            if self.end(&key).await?.is_some() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn verify_logout_token(&self, token: &str) -> Result<LogoutClaims, BackchannelError> {
        let discovered = self.provider.discovered().map_err(BackchannelError::ProviderNotReady)?;
        let settings = &self.provider.settings;
        let policy = LogoutTokenPolicy {
            issuer: &settings.issuer,
            client_id: &settings.client_id,
            allowed_algs: &discovered.id_token_algs,
            clock_skew: settings.clock_skew,
            now: now(),
        };
        let keys = self
            .provider
            .keys()
            .ok_or(BackchannelError::ProviderNotReady(NotReady::Starting))?;
        match verify_logout_token(token, &keys, &policy) {
            Err(e) if e.is_unknown_key() => match self.provider.refetch_keys(&keys).await {
                Some(fresh) => Ok(verify_logout_token(token, &fresh, &policy)?),
                None => Err(e.into()),
            },
            other => Ok(other?),
        }
    }

    /// With `sid`: the sessions of that provider session (and of `sub`, when both are
    /// given). With only `sub`: every session of that user.
    async fn matching_sessions(&self, claims: &LogoutClaims) -> Result<Vec<SessionKey>, StoreError> {
        let Some(sid) = &claims.sid else {
            let sub = claims.sub.as_deref().expect("a verified token has sid or sub");
            return self.store.keys_by_sub(sub).await;
        };
        let mut matching = Vec::new();
        for key in self.store.keys_by_sid(sid).await? {
            let Some(record) = self.store.peek(&key).await? else {
                continue;
            };
            let same_user = claims.sub.as_ref().is_none_or(|sub| *sub == record.identity.sub);
            if record.sid.as_deref() == Some(sid.as_str()) && same_user {
                matching.push(key);
            }
        }
        Ok(matching)
    }
}
