//! Starting and finishing a login.

use std::time::Duration;

use url::Url;

use super::return_to::{ReturnTo, ReturnToRejected};
use super::{Refusal, Service};
use crate::domain::access::{StepUp, StepUpError, StepUpFailure};
use crate::domain::{now, Authentication, Claims, Secret};
use crate::oidc::claims::merge_claims;
use crate::oidc::id_token::IdTokenError;
use crate::oidc::login::{TokenError, UserinfoError};
use crate::oidc::provider::NotReady;
use crate::session::{NewSession, PendingLogin, SaveError, SessionId, SessionKey, StoreError, TooLarge};

/// The longest sealed login a browser reliably keeps (4 KB per cookie, name and
/// attributes included).
const MAX_BINDING_COOKIE: usize = 3_800;

pub(crate) struct StartedLogin {
    pub(crate) authorize_url: Url,
    pub(crate) state: String,
    /// The login-binding cookie's value: the pending login, sealed.
    pub(crate) binding: String,
    /// How long the login may take (`OIDC_LOGIN_TIMEOUT`): the binding cookie's lifetime.
    pub(crate) expires_in: Duration,
}

pub(crate) struct FinishedLogin {
    pub(crate) session: SessionId,
    pub(crate) return_to: String,
    /// The session's absolute lifetime (`OIDC_SESSION_MAX_LIFETIME`): its cookie's.
    pub(crate) lifetime: Duration,
}

/// Parameters of the provider's redirect back to `/auth/callback`.
#[derive(Debug, Default)]
pub(crate) struct Callback {
    pub(crate) code: Option<Secret>,
    pub(crate) state: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
    pub(crate) iss: Option<String>,
    /// The browser's `User-Agent`, kept with the session for the user's list of sessions.
    pub(crate) user_agent: Option<String>,
}

/// The longest user agent kept with a session, in characters.
const MAX_USER_AGENT: usize = 256;

/// A user agent as kept: control characters removed, at most [`MAX_USER_AGENT`] characters.
fn user_agent(raw: Option<String>) -> Option<String> {
    let cleaned: String = raw?.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT).collect();
    Some(cleaned).filter(|ua| !ua.trim().is_empty())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    #[error(transparent)]
    ReturnTo(#[from] ReturnToRejected),
    #[error(transparent)]
    StepUpParameters(#[from] StepUpError),
    /// A sign-in asked to step up (`max_age`, `acr_values`) that the ID token does not show.
    #[error(transparent)]
    StepUp(#[from] StepUpFailure),
    #[error("this sign-in's state is too large for a browser cookie; use a shorter `return_to`")]
    TooLargeForCookie,
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

impl LoginError {
    /// A provider call's error, with "not loaded yet" told apart from a failed call.
    fn token(e: TokenError) -> Self {
        match e {
            TokenError::NotReady(e) => Self::ProviderNotReady(e),
            e => Self::Token(e),
        }
    }
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
            Self::StepUpParameters(_) => "step_up_parameters",
            Self::StepUp(StepUpFailure::NoAuthTime) => "no_auth_time",
            Self::StepUp(StepUpFailure::TooOld) => "auth_time_too_old",
            Self::StepUp(StepUpFailure::AcrNotSatisfied) => "acr_not_satisfied",
            Self::TooLargeForCookie => "login_too_large",
            Self::ProviderNotReady(_) => "provider_not_ready",
            Self::Store(_) => "store",
            Self::Provider { .. } => "provider_error",
            Self::UnboundProviderError => "unbound_provider_error",
            Self::MissingParameter(_) => "missing_parameter",
            Self::UnknownState => "unknown_state",
            Self::NotBoundToBrowser => "not_bound_to_browser",
            Self::WrongIssuer => "wrong_issuer",
            Self::Token(TokenError::Unreachable(_)) | Self::Par(TokenError::Unreachable(_)) => "provider_unreachable",
            Self::Par(TokenError::Busy) => "busy",
            Self::Par(_) => "par",
            Self::Token(_) => "token_exchange",
            Self::IdToken(_) => "id_token",
            Self::Userinfo(_) => "userinfo",
            Self::Refused(refusal) => refusal.reason(),
            Self::TokensTooLarge(_) => "tokens_too_large",
        }
    }
}

impl Service {
    /// `step_up` holds the raw `max_age` and `acr_values` of the request, if given. Counted
    /// as started, or as failed with its reason: a login refused here (the provider's PAR
    /// endpoint or the store down, a bad `return_to`) never reaches the callback, which
    /// counts the others.
    pub(crate) async fn start_login(
        &self,
        return_to: Option<&str>,
        step_up: (Option<&str>, Option<&str>),
    ) -> Result<StartedLogin, LoginError> {
        let started = self.begin_login(return_to, step_up).await;
        match &started {
            Ok(_) => self.metrics.login("started", ""),
            Err(e) => self.metrics.login("failed", e.reason()),
        }
        started
    }

    async fn begin_login(
        &self,
        return_to: Option<&str>,
        step_up: (Option<&str>, Option<&str>),
    ) -> Result<StartedLogin, LoginError> {
        let max_lifetime = self.settings.session.max_lifetime.as_secs();
        let step_up = StepUp::parse(step_up.0, step_up.1, max_lifetime)?;
        let return_to = match return_to {
            Some(raw) => {
                ReturnTo::parse(raw, &self.own_origin, &self.settings.redirects.allowed_return_origins)?.into_string()
            }
            None => self.settings.redirects.post_login.clone(),
        };
        let mut request = self
            .provider
            .authorization_request()
            .map_err(LoginError::ProviderNotReady)?;
        // Added to the request as built, so that a pushed request (PAR) carries them too.
        request.url.query_pairs_mut().extend_pairs(step_up.parameters());
        let pending = PendingLogin {
            nonce: Secret::new(request.nonce.clone()),
            pkce_verifier: Secret::new(request.pkce_verifier.clone()),
            return_to,
            expires_at: now().saturating_add(self.settings.session.login_timeout.as_secs()),
            step_up,
        };
        // Nothing is written, but a login that could not finish (the callback needs the
        // store) is refused up front rather than after the user has signed in.
        self.sessions.ping().await?;
        let binding = self.pending.seal(&request.state, &pending).await?;
        if binding.len() > MAX_BINDING_COOKIE {
            // Browsers drop cookies past 4 KB: a login that could not finish is refused now.
            return Err(LoginError::TooLargeForCookie);
        }
        // Pushed last, once nothing here can refuse the login any more (RFC 9126).
        let authorize_url = self
            .provider
            .authorization_redirect(&request)
            .await
            .map_err(|e| match e {
                TokenError::NotReady(e) => LoginError::ProviderNotReady(e),
                e => LoginError::Par(e),
            })?;
        Ok(StartedLogin {
            authorize_url,
            state: request.state,
            binding,
            expires_in: self.settings.session.login_timeout,
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
        let previous = previous.and_then(SessionId::parse).map(|id| id.key());
        let result = self.complete_login(callback, binding, previous).await;
        match &result {
            Ok(_) => self.metrics.login("completed", ""),
            Err(e) => self.metrics.login("failed", e.reason()),
        }
        result
    }

    async fn complete_login(
        &self,
        callback: Callback,
        binding: Option<&str>,
        previous: Option<SessionKey>,
    ) -> Result<FinishedLogin, LoginError> {
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
        // Checked again: whoever can read the store's shared sealing key can seal a login
        // of their own, with any `return_to`.
        if pending.return_to != self.settings.redirects.post_login {
            ReturnTo::parse(
                &pending.return_to,
                &self.own_origin,
                &self.settings.redirects.allowed_return_origins,
            )?;
        }
        let promises_iss = self.provider.promises_iss().map_err(LoginError::ProviderNotReady)?;
        match callback.iss.as_deref() {
            Some(iss) if iss != self.settings.provider.issuer => return Err(LoginError::WrongIssuer),
            // RFC 9207 §2.4: from a provider that promises `iss`, a response without it is refused.
            None if promises_iss => return Err(LoginError::MissingParameter("iss")),
            _ => {}
        }
        let code = callback.code.ok_or(LoginError::MissingParameter("code"))?;
        let tokens = self
            .provider
            .exchange_code(code.expose(), pending.pkce_verifier.expose())
            .await
            .map_err(LoginError::token)?;
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
            .provider
            .verify_id_token(&raw_id_token, Some(pending.nonce.expose()))
            .await
            .map_err(|e| match e {
                IdTokenError::ProviderNotReady(e) => LoginError::ProviderNotReady(e),
                e => LoginError::IdToken(e),
            })?;
        let userinfo = self
            .provider
            .userinfo(&tokens.access_token, &verified.sub)
            .await
            .map_err(|e| match e {
                UserinfoError::NotReady(e) => LoginError::ProviderNotReady(e),
                e => LoginError::Userinfo(e),
            })?;
        let authentication = Authentication::from_claims(&verified.claims);
        // OIDC Core §3.1.3.7 rule 11 and the `acr` asked for: a failed step-up leaves the
        // browser's session as it was.
        let skew = self.settings.provider.clock_skew.as_secs();
        pending.step_up.verify(&authentication, now(), skew)?;
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
            authentication,
            user_agent: user_agent(callback.user_agent),
            tokens: tokens.into_tokens(raw_id_token.to_string()),
        };
        let sub = new.identity.sub.clone();
        self.sessions
            .create(&session.key(), new, self.settings.session.idle_timeout)
            .await?;
        if let Some(previous) = previous {
            // A new login replaces the browser's old session rather than leaving it behind,
            // and before the per-user limit is applied: the replaced session must not count,
            // or another device's session would end in its place. Not revoked at the
            // provider: both may share one grant.
            if let Err(e) = self.sessions.remove(&previous).await {
                tracing::warn!(error = %e, "removing the session this login replaces failed");
            }
        }
        self.limit_sessions_of(&sub, &session.key()).await;
        Ok(FinishedLogin {
            session,
            return_to: pending.return_to,
            lifetime: self.settings.session.max_lifetime,
        })
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn a_user_agent_is_kept_without_control_characters_and_cut_to_256_characters() {
        assert_eq!(
            user_agent(Some("Firefox\r\n/1.0".into())).as_deref(),
            Some("Firefox/1.0")
        );
        assert_eq!(
            user_agent(Some("é".repeat(300))).map(|ua| ua.chars().count()),
            Some(256)
        );
        assert_eq!(user_agent(Some("\u{1} ".into())), None);
        assert_eq!(user_agent(None), None);
    }

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
