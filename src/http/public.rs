//! The public listener: the browser's and the provider's endpoints.

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::error::{ErrorBody, JsonError, PageError};
use crate::oidc::provider::error_chain;
use crate::service::login::Callback;
use crate::service::Service;

#[derive(Tags)]
enum Tag {
    /// Browser sign-in and sign-out.
    Auth,
}

pub struct PublicApi {
    pub service: Arc<Service>,
}

#[derive(ApiResponse)]
pub enum Redirect {
    /// Go on to `Location`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

/// The signed-in user, for the frontend. Never holds tokens.
#[derive(Debug, Object)]
pub struct Me {
    pub sub: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Unix seconds: when the session ends if it is not used again.
    pub session_expires_at: u64,
}

#[derive(ApiResponse)]
pub enum MeResponse {
    #[oai(status = 200)]
    Ok(Json<Me>),
}

/// `application/x-www-form-urlencoded` body of a back-channel logout.
#[derive(Debug, Object, serde::Deserialize)]
pub struct BackchannelForm {
    pub logout_token: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "backchannel_bad_request")]
pub enum BackchannelResponse {
    /// The token was valid; its sessions (if any) have ended.
    #[oai(status = 200)]
    Ok,
    /// The token (or the request) is invalid; nothing was ended.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The provider's keys or the session store are unavailable; try again.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn backchannel_bad_request(err: poem::Error) -> BackchannelResponse {
    tracing::warn!(error = %err, "back-channel logout refused: malformed request");
    BackchannelResponse::BadRequest(ErrorBody::new("invalid_request", err.to_string()))
}

/// The refreshed access token's expiry.
#[derive(Debug, Object)]
pub struct Refreshed {
    /// Unix seconds; absent when the provider did not say.
    pub access_token_expires_at: Option<u64>,
}

#[derive(ApiResponse)]
pub enum RefreshResponse {
    #[oai(status = 200)]
    Ok(Json<Refreshed>),
}

#[OpenApi(tag = "Tag::Auth")]
impl PublicApi {
    /// Start signing in (authorization code flow with PKCE S256).
    #[oai(path = "/auth/login", method = "get")]
    async fn login(&self, return_to: Query<Option<String>>, jar: &CookieJar) -> Result<Redirect, PageError> {
        let service = &self.service;
        let started = service.start_login(return_to.0.as_deref()).await?;
        let timeout = service.settings.session.login_timeout;
        jar.add(service.cookies.binding(&started.state, &started.binding, timeout));
        Ok(Redirect::Found(started.authorize_url.to_string()))
    }

    /// The provider's redirect back: finish signing in and set the session cookie.
    #[oai(path = "/auth/callback", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn callback(
        &self,
        code: Query<Option<String>>,
        state: Query<Option<String>>,
        error: Query<Option<String>>,
        error_description: Query<Option<String>>,
        iss: Query<Option<String>>,
        jar: &CookieJar,
    ) -> Result<Redirect, PageError> {
        let service = &self.service;
        let binding = state
            .0
            .as_deref()
            .and_then(|s| jar.get(&service.cookies.binding_name(s)));
        if let Some(s) = state.0.as_deref() {
            jar.add(service.cookies.clear_binding(s));
        }
        let callback = Callback {
            code: code.0,
            state: state.0,
            error: error.0,
            error_description: error_description.0,
            iss: iss.0,
        };
        let previous = jar.get(service.cookies.session_name());
        let finished = service
            .finish_login(
                callback,
                binding.as_ref().map(|c| c.value_str()),
                previous.as_ref().map(|c| c.value_str()),
            )
            .await?;
        let lifetime = service.settings.session.max_lifetime;
        jar.add(service.cookies.session(&finished.session, lifetime));
        tracing::info!("login completed");
        Ok(Redirect::Found(finished.return_to))
    }

    /// The signed-in user; 401 without a live session.
    #[oai(path = "/auth/me", method = "get")]
    async fn me(&self, jar: &CookieJar) -> Result<MeResponse, JsonError> {
        let cookie = jar.get(self.service.cookies.session_name());
        let session = self.service.session(cookie.as_ref().map(|c| c.value_str())).await?;
        let Some(active) = session else {
            return Err(JsonError::Unauthorized(ErrorBody::new(
                "unauthorized",
                "no live session",
            )));
        };
        let identity = active.record.identity;
        Ok(MeResponse::Ok(Json(Me {
            sub: identity.sub,
            username: identity.username,
            email: identity.email,
            name: identity.name,
            groups: identity.groups,
            session_expires_at: active.idle_expires_at,
        })))
    }

    /// End the session and sign out at the provider (RP-Initiated Logout).
    #[oai(path = "/auth/logout", method = "get")]
    async fn logout_get(&self, jar: &CookieJar) -> Result<Redirect, PageError> {
        self.logout(jar).await
    }

    /// End the session and sign out at the provider; refused for cross-site callers.
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout_post(&self, req: &Request, jar: &CookieJar) -> Result<Redirect, PageError> {
        if let Err(reason) = super::same_site::check(req, &self.service) {
            return Err(PageError::Forbidden(super::error::page("Forbidden", reason)));
        }
        self.logout(jar).await
    }

    /// Refresh the session's tokens now; 401 (and the session ends) when the provider
    /// refuses the refresh token.
    #[oai(path = "/auth/refresh", method = "post")]
    async fn refresh(&self, req: &Request, jar: &CookieJar) -> Result<RefreshResponse, JsonError> {
        use crate::service::refresh::RefreshError;
        if let Err(reason) = super::same_site::check(req, &self.service) {
            return Err(JsonError::Forbidden(ErrorBody::new("forbidden", reason)));
        }
        let cookie = jar.get(self.service.cookies.session_name());
        let unauthorized = || JsonError::Unauthorized(ErrorBody::new("unauthorized", "no live session"));
        let Some(active) = self.service.session(cookie.as_ref().map(|c| c.value_str())).await? else {
            return Err(unauthorized());
        };
        match self.service.refresh(active).await {
            Ok(active) => Ok(RefreshResponse::Ok(Json(Refreshed {
                access_token_expires_at: active.record.access_token_expires_at,
            }))),
            Err(RefreshError::Ended) => {
                jar.add(self.service.cookies.clear_session());
                Err(unauthorized())
            }
            Err(e @ (RefreshError::IdToken(_) | RefreshError::IdentityChanged)) => {
                tracing::warn!(error = %error_chain(&e), "refresh refused: session ended");
                if let Some(c) = &cookie {
                    if let Some(id) = crate::session::SessionId::parse(c.value_str()) {
                        self.service.end(&id.key()).await?;
                    }
                }
                jar.add(self.service.cookies.clear_session());
                Err(unauthorized())
            }
            Err(RefreshError::NoRefreshToken) => Err(JsonError::BadRequest(ErrorBody::new(
                "invalid_request",
                "the session holds no refresh token (the provider issued none: see OIDC_SCOPES and OIDC_PROMPT)",
            ))),
            Err(RefreshError::Store(e)) => Err(e.into()),
            Err(e @ RefreshError::Provider(_)) => {
                tracing::warn!(error = %error_chain(&e), "refresh failed");
                Err(JsonError::BadGateway(ErrorBody::new("bad_gateway", error_chain(&e))))
            }
            Err(e @ (RefreshError::ProviderNotReady(_) | RefreshError::Busy)) => Err(JsonError::Unavailable(
                ErrorBody::new("temporarily_unavailable", e.to_string()),
            )),
        }
    }

    /// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) from the provider.
    #[oai(path = "/auth/backchannel-logout", method = "post")]
    async fn backchannel_logout(&self, form: Form<BackchannelForm>) -> BackchannelResponse {
        use crate::service::backchannel::BackchannelError;
        match self.service.backchannel_logout(&form.0.logout_token).await {
            Ok(ended) => {
                tracing::info!(sessions_ended = ended, "back-channel logout accepted");
                BackchannelResponse::Ok
            }
            Err(BackchannelError::Store(e)) => {
                tracing::error!(error = %error_chain(&e), "back-channel logout failed: session store");
                BackchannelResponse::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
            }
            Err(e @ BackchannelError::ProviderNotReady(_)) => {
                tracing::warn!(error = %e, "back-channel logout deferred: provider not ready");
                BackchannelResponse::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
            }
            Err(e) => {
                tracing::warn!(error = %e, "back-channel logout refused");
                BackchannelResponse::BadRequest(ErrorBody::new("invalid_request", e.to_string()))
            }
        }
    }
}

impl PublicApi {
    async fn logout(&self, jar: &CookieJar) -> Result<Redirect, PageError> {
        let service = &self.service;
        let cookie = jar.get(service.cookies.session_name());
        // The cookie goes whatever happens next.
        jar.add(service.cookies.clear_session());
        let url = service.logout(cookie.as_ref().map(|c| c.value_str())).await?;
        tracing::info!("logout");
        Ok(Redirect::Found(url.to_string()))
    }
}
