//! OpenID Connect Back-Channel Logout 1.0: a verified `logout_token` ends every matching
//! session, on every replica (the indexes live in Redis).

use super::sessions::Revocation;
use super::Service;
use crate::domain::now;
use crate::oidc::logout_token::{LogoutClaims, LogoutTokenError, MAX_TOKEN_AGE, NO_EXP_WINDOW};
use crate::oidc::provider::NotReady;
use crate::session::{SessionKey, StoreError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackchannelError {
    #[error(transparent)]
    Invalid(LogoutTokenError),
    #[error("the logout token is too old: issued more than {NO_EXP_WINDOW} s ago without `exp`, or more than {MAX_TOKEN_AGE} s ago")]
    Stale,
    #[error("this logout token was already used (replayed `jti`)")]
    Replayed,
    #[error("the identity provider's keys are not loaded yet")]
    ProviderNotReady(#[source] NotReady),
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

    /// The token is remembered (replays refused) before any session ends; if ending them
    /// fails, it is forgotten again so that the provider's retry succeeds. Sessions end in
    /// the store at once; their refresh tokens are revoked later, off this request.
    async fn verified_backchannel_logout(&self, token: &str) -> Result<usize, BackchannelError> {
        let claims = self.provider.verify_logout_token(token).await.map_err(|e| match e {
            LogoutTokenError::ProviderNotReady(e) => BackchannelError::ProviderNotReady(e),
            e => BackchannelError::Invalid(e),
        })?;
        let remember = claims
            .replay_window(now(), self.settings.provider.clock_skew)
            .ok_or(BackchannelError::Stale)?;
        let jti = format!("{}\u{0}{}", claims.iss, claims.jti);
        if !self.sessions.remember_logout_token(&jti, remember).await? {
            return Err(BackchannelError::Replayed);
        }
        match self.end_matching(&claims).await {
            Ok(ended) => Ok(ended),
            Err(e) => {
                if let Err(forget) = self.sessions.forget_logout_token(&jti).await {
                    tracing::warn!(error = %crate::util::error_chain(&forget), "forgetting an unfinished logout token failed");
                }
                Err(e.into())
            }
        }
    }

    async fn end_matching(&self, claims: &LogoutClaims) -> Result<usize, StoreError> {
        let mut ended = 0;
        for key in self.matching_sessions(claims).await? {
            if self.end(&key, Revocation::Later).await?.is_some() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// With `sid`: the sessions of that provider session (and of `sub`, when both are
    /// given). With only `sub`: every session of that user.
    async fn matching_sessions(&self, claims: &LogoutClaims) -> Result<Vec<SessionKey>, StoreError> {
        let Some(sid) = &claims.sid else {
            let sub = claims.sub.as_deref().expect("a verified token has sid or sub");
            return self.sessions.keys_by_sub(sub).await;
        };
        let mut matching = Vec::new();
        for key in self.sessions.keys_by_sid(sid).await? {
            let Some(record) = self.sessions.peek(&key).await? else {
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
