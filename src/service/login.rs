//! Starting and finishing a login.

use url::Url;

use super::return_to::{ReturnTo, ReturnToRejected};
use super::Service;
use crate::oidc::claims::merge_claims;
use crate::oidc::id_token::{self, IdTokenError, IdTokenPolicy, VerifiedIdToken};
use crate::oidc::login::{self, TokenError, UserinfoError};
use crate::oidc::provider::NotReady;
use crate::session::{
    now, random_token, sha256_hex, Claims, PendingLogin, SessionId, SessionRecord, SessionStore, StoreError,
    StoredTokens,
};

pub struct StartedLogin {
    pub authorize_url: Url,
    pub state: String,
    pub binding: String,
}

pub struct FinishedLogin {
    pub session: SessionId,
    pub return_to: String,
}

/// Parameters of the provider's redirect back to `/auth/callback`.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    ReturnTo(#[from] ReturnToRejected),
    #[error("the identity provider is not available yet ({0})")]
    ProviderNotReady(NotReady),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the identity provider reported an error: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider { error: String, description: Option<String> },
    #[error("the callback lacks `{0}`")]
    MissingParameter(&'static str),
    #[error("this login is unknown, expired or already used; please start again")]
    UnknownState,
    #[error("this login was started in another browser; please start again")]
    NotBoundToBrowser,
    #[error("the response names another issuer (`iss` parameter, RFC 9207)")]
    WrongIssuer,
    #[error("exchanging the authorization code failed")]
    Token(#[source] TokenError),
    #[error("the ID token is not valid")]
    IdToken(#[source] IdTokenError),
    #[error("reading userinfo failed")]
    Userinfo(#[source] UserinfoError),
    #[error("your account is not in a group allowed to sign in")]
    GroupNotAllowed,
    #[error("your email address is not verified")]
    EmailNotVerified,
}

impl LoginError {
    /// A short, stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ReturnTo(_) => "return_to",
            Self::ProviderNotReady(_) => "provider_not_ready",
            Self::Store(_) => "store",
            Self::Provider { .. } => "provider_error",
            Self::MissingParameter(_) => "missing_parameter",
            Self::UnknownState => "unknown_state",
            Self::NotBoundToBrowser => "not_bound_to_browser",
            Self::WrongIssuer => "wrong_issuer",
            Self::Token(TokenError::Unreachable(_)) => "provider_unreachable",
            Self::Token(_) => "token_exchange",
            Self::IdToken(_) => "id_token",
            Self::Userinfo(_) => "userinfo",
            Self::GroupNotAllowed => "group_not_allowed",
            Self::EmailNotVerified => "email_not_verified",
        }
    }
}

impl Service {
    pub async fn start_login(&self, return_to: Option<&str>) -> Result<StartedLogin, LoginError> {
        let return_to = match return_to {
            Some(raw) => {
                ReturnTo::parse(raw, &self.own_origin, &self.settings.redirects.allowed_return_origins)?.into_string()
            }
            None => self.settings.redirects.post_login.clone(),
        };
        let discovered = self.provider.discovered().map_err(LoginError::ProviderNotReady)?;
        let request = login::authorization_request(&self.provider.settings, &discovered.endpoints);
        let binding = random_token();
        let pending = PendingLogin {
            nonce: request.nonce,
            pkce_verifier: request.pkce_verifier,
            return_to,
            binding_hash: sha256_hex(binding.as_bytes()),
        };
        self.store
            .put_pending(&request.state, &pending, self.settings.session.login_timeout)
            .await?;
        self.metrics.login("started", "");
        Ok(StartedLogin {
            authorize_url: request.url,
            state: request.state,
            binding,
        })
    }

    /// `binding` is the value of this login's binding cookie, if the browser sent it.
    /// `previous` is the browser's current session cookie, if any: a successful login
    /// replaces that session.
    pub async fn finish_login(
        &self,
        callback: Callback,
        binding: Option<&str>,
        previous: Option<&str>,
    ) -> Result<FinishedLogin, LoginError> {
        let result = self.complete_login(callback, binding).await;
        if let (Ok(_), Some(previous)) = (&result, previous.and_then(SessionId::parse)) {
            // A new login replaces the browser's old session rather than leaving it behind.
            // Not revoked at the provider: both may share one grant.
            if let Err(e) = self.store.remove(&previous.key()).await {
                tracing::warn!(error = %e, "removing the session this login replaces failed");
            }
        }
        match &result {
            Ok(_) => self.metrics.login("completed", ""),
            Err(e) => self.metrics.login("failed", e.reason()),
        }
        result
    }

    async fn complete_login(&self, callback: Callback, binding: Option<&str>) -> Result<FinishedLogin, LoginError> {
        if let Some(error) = callback.error {
            // The attempt is over either way: burn its state so it cannot be resumed.
            if let Some(state) = &callback.state {
                self.store.take_pending(state).await?;
            }
            return Err(LoginError::Provider {
                error,
                description: callback.error_description,
            });
        }
        let state = callback.state.clone().ok_or(LoginError::MissingParameter("state"))?;
        // Taken first, whatever follows: a state is good for one attempt only.
        let pending = self.store.take_pending(&state).await?.ok_or(LoginError::UnknownState)?;
        let bound = binding.is_some_and(|b| subtle_eq(&sha256_hex(b.as_bytes()), &pending.binding_hash));
        if !bound {
            return Err(LoginError::NotBoundToBrowser);
        }
        if callback
            .iss
            .as_deref()
            .is_some_and(|iss| iss != self.provider.settings.issuer)
        {
            return Err(LoginError::WrongIssuer);
        }
        let code = callback.code.ok_or(LoginError::MissingParameter("code"))?;
        let discovered = self.provider.discovered().map_err(LoginError::ProviderNotReady)?;
        let settings = &self.provider.settings;
        let exchange = login::exchange_code(
            settings,
            &discovered.endpoints,
            &self.provider.http,
            &code,
            &pending.pkce_verifier,
        );
        let tokens = self
            .metrics
            .provider_call("token", exchange)
            .await
            .map_err(LoginError::Token)?;
        let raw_id_token = tokens
            .id_token
            .clone()
            .ok_or(LoginError::Token(TokenError::NoIdToken))?;
        let verified = self
            .verify_id_token(&raw_id_token, Some(&pending.nonce))
            .await
            .map_err(LoginError::IdToken)?;
        let userinfo = match (&discovered.endpoints.userinfo, settings.fetch_userinfo) {
            (Some(url), true) => Some(
                self.metrics
                    .provider_call(
                        "userinfo",
                        login::userinfo(&self.provider.http, url, &tokens.access_token, &verified.sub),
                    )
                    .await
                    .map_err(LoginError::Userinfo)?,
            ),
            _ => None,
        };
        let claims = merge_claims(verified.claims, userinfo);
        let identity = self.mapping.identity(&verified.sub, &claims);
        self.mapping.warn_unmatched(&claims);
        let policy = &self.settings.claims;
        if !policy.allowed_groups.is_empty() && !identity.groups.iter().any(|g| policy.allowed_groups.contains(g)) {
            return Err(LoginError::GroupNotAllowed);
        }
        if policy.require_email_verified && identity.email_verified != Some(true) {
            return Err(LoginError::EmailNotVerified);
        }
        let session = SessionId::generate();
        let key = session.key();
        let created_at = now();
        let access_token_expires_at = tokens.access_token_expires_at;
        let stored = StoredTokens::seal(
            tokens.into_tokens(raw_id_token.to_string()),
            self.settings.session.keys.as_ref(),
            &key,
        );
        let record = SessionRecord {
            identity,
            sid: verified.sid,
            claims: Claims::new(&claims),
            created_at,
            expires_at: created_at + self.settings.session.max_lifetime.as_secs(),
            access_token_expires_at,
            refreshed_at: 0,
            tokens: stored,
        };
        self.store
            .save(&key, &record, self.settings.session.idle_timeout)
            .await?;
        Ok(FinishedLogin {
            session,
            return_to: pending.return_to,
        })
    }

    /// Validates an ID token, re-fetching the provider's keys once when it names an unknown key.
    pub async fn verify_id_token(
        &self,
        token: &openidconnect::core::CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        let settings = &self.provider.settings;
        let discovered = self.provider.discovered().map_err(|_| IdTokenError::UnknownKey)?;
        let policy = IdTokenPolicy {
            issuer: &settings.issuer,
            client_id: &settings.client_id,
            client_secret: settings.client_secret.as_ref().map(|s| s.expose()),
            algs: &discovered.id_token_algs,
            clock_skew: settings.clock_skew,
        };
        let keys = self.provider.keys().ok_or(IdTokenError::UnknownKey)?;
        match id_token::verify(token, &keys, &policy, nonce) {
            Err(e) if e.is_unknown_key() => match self.provider.refetch_keys(&keys).await {
                Some(fresh) => id_token::verify(token, &fresh, &policy, nonce),
                None => Err(e),
            },
            other => other,
        }
    }
}

/// Constant-time comparison of two equal-length hex digests.
fn subtle_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
