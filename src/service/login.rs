//! Starting and finishing a login.

use url::Url;

use super::return_to::{ReturnTo, ReturnToRejected};
use super::{Refusal, Service};
use crate::domain::{now, Claims, Secret};
use crate::oidc::claims::merge_claims;
use crate::oidc::client::{verify_with_refetch, KeyRequester};
use crate::oidc::id_token::{self, IdTokenError, IdTokenPolicy, VerifiedIdToken};
use crate::oidc::login::{self, TokenError, UserinfoError};
use crate::oidc::provider::NotReady;
use crate::session::{NewSession, PendingLogin, SaveError, SessionId, StoreError, TooLarge};

/// The longest sealed login a browser reliably keeps (4 KB per cookie, name and
/// attributes included).
const MAX_BINDING_COOKIE: usize = 3_800;

pub(crate) struct StartedLogin {
    pub(crate) authorize_url: Url,
    pub(crate) state: String,
    /// The login-binding cookie's value: the pending login, sealed.
    pub(crate) binding: String,
}

pub(crate) struct FinishedLogin {
    pub(crate) session: SessionId,
    pub(crate) return_to: String,
}

/// Parameters of the provider's redirect back to `/auth/callback`.
#[derive(Debug, Default)]
pub(crate) struct Callback {
    pub(crate) code: Option<Secret>,
    pub(crate) state: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
    pub(crate) iss: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    #[error(transparent)]
    ReturnTo(#[from] ReturnToRejected),
    #[error("the identity provider is not available yet ({0})")]
    ProviderNotReady(NotReady),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the identity provider reported an error: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider { error: String, description: Option<String> },
    /// An error response that is not for a login this browser started: anyone can make
    /// such a link, so its text is not shown.
    #[error("sign-in was not completed (an error response for no login of this browser)")]
    UnboundProviderError,
    #[error("the callback lacks `{0}`")]
    MissingParameter(&'static str),
    #[error("this login is unknown, expired or already used; please start again")]
    UnknownState,
    #[error("this login was started in another browser; please start again")]
    NotBoundToBrowser,
    #[error("the response names another issuer (`iss` parameter, RFC 9207)")]
    WrongIssuer,
    #[error("pushing the authorization request to the provider failed")]
    Par(#[source] TokenError),
    #[error("exchanging the authorization code failed")]
    Token(#[source] TokenError),
    #[error("the ID token is not valid")]
    IdToken(#[source] IdTokenError),
    #[error("reading userinfo failed")]
    Userinfo(#[source] UserinfoError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the provider's tokens cannot be stored")]
    TokensTooLarge(#[source] TooLarge),
}

impl From<SaveError> for LoginError {
    fn from(e: SaveError) -> Self {
        match e {
            SaveError::TooLarge(e) => Self::TokensTooLarge(e),
            SaveError::Store(e) => Self::Store(e),
        }
    }
}

impl LoginError {
    /// A short, stable label for metrics and logs.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::ReturnTo(_) => "return_to",
            Self::ProviderNotReady(_) => "provider_not_ready",
            Self::Store(_) => "store",
            Self::Provider { .. } => "provider_error",
            Self::UnboundProviderError => "unbound_provider_error",
            Self::MissingParameter(_) => "missing_parameter",
            Self::UnknownState => "unknown_state",
            Self::NotBoundToBrowser => "not_bound_to_browser",
            Self::WrongIssuer => "wrong_issuer",
            Self::Token(TokenError::Unreachable(_)) | Self::Par(TokenError::Unreachable(_)) => "provider_unreachable",
            Self::Par(_) => "par",
            Self::Token(_) => "token_exchange",
            Self::IdToken(_) => "id_token",
            Self::Userinfo(_) => "userinfo",
            Self::Refused(Refusal::GroupNotAllowed) => "group_not_allowed",
            Self::Refused(Refusal::EmailNotVerified) => "email_not_verified",
            Self::TokensTooLarge(_) => "tokens_too_large",
        }
    }
}

impl Service {
    pub(crate) async fn start_login(&self, return_to: Option<&str>) -> Result<StartedLogin, LoginError> {
        let return_to = match return_to {
            Some(raw) => {
                ReturnTo::parse(raw, &self.own_origin, &self.settings.redirects.allowed_return_origins)?.into_string()
            }
            None => self.settings.redirects.post_login.clone(),
        };
        let discovered = self.provider.discovered().map_err(LoginError::ProviderNotReady)?;
        let request = login::authorization_request(self.provider.settings(), &discovered.endpoints);
        let pending = PendingLogin {
            nonce: Secret::new(request.nonce),
            pkce_verifier: Secret::new(request.pkce_verifier),
            return_to,
            expires_at: now().saturating_add(self.settings.session.login_timeout.as_secs()),
        };
        // Nothing is written, but a login that could not finish (the callback needs the
        // store) is refused up front rather than after the user has signed in.
        self.sessions.store().ping().await?;
        let binding = self.pending.seal(&request.state, &pending).await?;
        if binding.len() > MAX_BINDING_COOKIE {
            // Browsers drop cookies past 4 KB: a login that could not finish is refused now.
            return Err(LoginError::ReturnTo(ReturnToRejected));
        }
        // Pushed last, once nothing here can refuse the login any more (RFC 9126).
        let authorize_url = match &discovered.endpoints.pushed_authorization {
            Some(par_endpoint) => self
                .provider
                .push_authorization_request(&discovered.endpoints, par_endpoint, &request.url)
                .await
                .map_err(LoginError::Par)?,
            None => request.url,
        };
        self.metrics.login("started", "");
        Ok(StartedLogin {
            authorize_url,
            state: request.state,
            binding,
        })
    }

    /// `binding` is the value of this login's binding cookie, if the browser sent it.
    /// `previous` is the browser's current session cookie, if any: a successful login
    /// replaces that session.
    pub(crate) async fn finish_login(
        &self,
        callback: Callback,
        binding: Option<&str>,
        previous: Option<&str>,
    ) -> Result<FinishedLogin, LoginError> {
        let result = self.complete_login(callback, binding).await;
        if let (Ok(_), Some(previous)) = (&result, previous.and_then(SessionId::parse)) {
            // A new login replaces the browser's old session rather than leaving it behind.
            // Not revoked at the provider: both may share one grant.
            if let Err(e) = self.sessions.store().remove(&previous.key()).await {
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
            // The attempt is over either way; its binding cookie is cleared by the handler.
            // The provider's text is shown only to the browser whose login this answers.
            let ours = match (callback.state.as_deref(), binding) {
                (Some(state), Some(binding)) => self.pending.open(state, binding).await?.is_some(),
                _ => false,
            };
            return Err(if ours {
                LoginError::Provider {
                    error,
                    description: callback.error_description,
                }
            } else {
                LoginError::UnboundProviderError
            });
        }
        let state = callback.state.clone().ok_or(LoginError::MissingParameter("state"))?;
        // A completed login cannot be resumed, in this browser or another.
        if self.pending.claimed(&state).await? {
            return Err(LoginError::UnknownState);
        }
        // The sealed login comes only from the browser that started it.
        let binding = binding.ok_or(LoginError::NotBoundToBrowser)?;
        let pending = self
            .pending
            .open(&state, binding)
            .await?
            .ok_or(LoginError::UnknownState)?;
        let discovered = self.provider.discovered().map_err(LoginError::ProviderNotReady)?;
        match callback.iss.as_deref() {
            Some(iss) if iss != self.settings.provider.issuer => return Err(LoginError::WrongIssuer),
            // RFC 9207 §2.4: from a provider that promises `iss`, a response without it is refused.
            None if discovered.sends_iss() => return Err(LoginError::MissingParameter("iss")),
            _ => {}
        }
        let code = callback.code.ok_or(LoginError::MissingParameter("code"))?;
        let tokens = self
            .provider
            .exchange_code(&discovered.endpoints, code.expose(), pending.pkce_verifier.expose())
            .await
            .map_err(LoginError::Token)?;
        // Single use, claimed once the provider has accepted the code: only a login the
        // provider let through can make the store hold anything.
        if !self.pending.claim(&state, self.settings.session.login_timeout).await? {
            return Err(LoginError::UnknownState);
        }
        let raw_id_token = tokens
            .id_token
            .clone()
            .ok_or(LoginError::Token(TokenError::NoIdToken))?;
        let verified = self
            .verify_id_token(&raw_id_token, Some(pending.nonce.expose()))
            .await
            .map_err(LoginError::IdToken)?;
        let userinfo = match (&discovered.endpoints.userinfo, self.settings.provider.fetch_userinfo) {
            (Some(url), true) => Some(
                self.provider
                    .userinfo(url, &tokens.access_token, &verified.sub)
                    .await
                    .map_err(LoginError::Userinfo)?,
            ),
            _ => None,
        };
        let claims = merge_claims(verified.claims, userinfo);
        let identity = self.mapping.identity(&verified.sub, &claims);
        self.mapping.warn_unmatched(&claims);
        self.admits(&identity)?;
        let session = SessionId::generate();
        let created_at = now();
        let new = NewSession {
            identity,
            sid: verified.sid,
            claims: Claims::new(&claims),
            created_at,
            expires_at: created_at.saturating_add(self.settings.session.max_lifetime.as_secs()),
            access_token_expires_at: tokens.access_token_expires_at,
            tokens: tokens.into_tokens(raw_id_token.to_string()),
        };
        self.sessions
            .create(&session.key(), new, self.settings.session.idle_timeout)
            .await?;
        Ok(FinishedLogin {
            session,
            return_to: pending.return_to,
        })
    }

    /// Validates an ID token from the token endpoint, re-fetching the provider's keys
    /// once when it names an unknown key.
    pub(crate) async fn verify_id_token(
        &self,
        token: &openidconnect::core::CoreIdToken,
        nonce: Option<&str>,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        let settings = &self.settings.provider;
        let discovered = self.provider.discovered().map_err(|_| IdTokenError::UnknownKey)?;
        let policy = IdTokenPolicy {
            issuer: &settings.issuer,
            client_id: &settings.client_id,
            client_secret: settings.client_secret.as_ref().map(|s| s.expose()),
            algs: &discovered.id_token_algs,
            clock_skew: settings.clock_skew,
        };
        let provider = self.provider.as_ref();
        verify_with_refetch(
            provider,
            KeyRequester::TokenEndpoint,
            || IdTokenError::UnknownKey,
            |keys| id_token::verify(token, keys, &policy, nonce),
        )
        .await
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn a_callback_debug_output_hides_the_authorization_code() {
        let callback = Callback {
            code: Some(Secret::new("the-authorization-code".into())),
            state: Some("s".into()),
            ..Callback::default()
        };
        assert!(!format!("{callback:?}").contains("the-authorization-code"));
    }
}
