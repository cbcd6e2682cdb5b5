//! The public listener: the browser's and the provider's endpoints.

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::backchannel::{BackchannelForm, BackchannelResponse};
use super::cookie::Cookies;
use super::error::{ErrorBody, JsonError, PageError};
use super::logout_page::LogoutGet;
use crate::domain::Secret;
use crate::service::login::Callback;
use crate::service::refresh::{RefreshError, RefreshKind};
use crate::service::Service;

#[derive(Tags)]
enum Tag {
    /// Browser sign-in and sign-out.
    Auth,
}

pub(crate) struct PublicApi {
    pub(crate) service: Arc<Service>,
    pub(crate) cookies: Cookies,
}

#[derive(ApiResponse)]
pub(crate) enum Redirect {
    /// Go on to `Location`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String),
}

/// The signed-in user, for the frontend. Never holds tokens.
#[derive(Debug, Object)]
pub(crate) struct Me {
    pub(crate) sub: String,
    pub(crate) username: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) groups: Vec<String>,
    /// Unix seconds: when the session ends if it is not used again.
    pub(crate) session_expires_at: u64,
}

#[derive(ApiResponse)]
pub(crate) enum MeResponse {
    #[oai(status = 200)]
    Ok(Json<Me>),
}

/// The refreshed access token's expiry.
#[derive(Debug, Object)]
pub(crate) struct Refreshed {
    /// Unix seconds; absent when the provider did not say.
    pub(crate) access_token_expires_at: Option<u64>,
}

#[derive(ApiResponse)]
pub(crate) enum RefreshResponse {
    #[oai(status = 200)]
    Ok(Json<Refreshed>),
}

#[OpenApi(tag = "Tag::Auth")]
impl PublicApi {
    /// Start signing in (authorization code flow with PKCE S256). `max_age` (seconds, at
    /// most the session's maximum lifetime) and `acr_values` (at most ten, space- or
    /// comma-separated) ask the provider for a step-up; the callback then requires an ID
    /// token that shows it (403 otherwise, the existing session kept).
    #[oai(path = "/auth/login", method = "get")]
    async fn login(
        &self,
        return_to: Query<Option<String>>,
        max_age: Query<Option<String>>,
        acr_values: Query<Option<String>>,
        jar: &CookieJar,
    ) -> Result<Redirect, PageError> {
        let service = &self.service;
        let step_up = (max_age.0.as_deref(), acr_values.0.as_deref());
        let started = service.start_login(return_to.0.as_deref(), step_up).await?;
        jar.add(
            self.cookies
                .binding(&started.state, &started.binding, started.expires_in),
        );
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
        req: &Request,
        jar: &CookieJar,
    ) -> Result<Redirect, PageError> {
        let service = &self.service;
        let binding = state.0.as_deref().and_then(|s| jar.get(&self.cookies.binding_name(s)));
        if let Some(s) = state.0.as_deref() {
            jar.add(self.cookies.clear_binding(s));
        }
        let callback = Callback {
            code: code.0.map(Secret::new),
            state: state.0,
            error: error.0,
            error_description: error_description.0,
            iss: iss.0,
            user_agent: req.header("user-agent").map(str::to_owned),
        };
        let previous = jar.get(self.cookies.session_name());
        let finished = service
            .finish_login(
                callback,
                binding.as_ref().map(|c| c.value_str()),
                previous.as_ref().map(|c| c.value_str()),
            )
            .await?;
        jar.add(self.cookies.session(&finished.session, finished.lifetime));
        tracing::info!("login completed");
        Ok(Redirect::Found(finished.return_to))
    }

    /// The signed-in user; 401 without a live session.
    #[oai(path = "/auth/me", method = "get")]
    async fn me(&self, jar: &CookieJar) -> Result<MeResponse, JsonError> {
        let cookie = jar.get(self.cookies.session_name());
        let session = self.service.session(cookie.as_ref().map(|c| c.value_str())).await?;
        let Some(active) = session else {
            return Err(JsonError::no_session());
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

    /// End the session and sign out at the provider (RP-Initiated Logout). From another
    /// site (`Sec-Fetch-Site: cross-site`, or `same-site` from an untrusted origin) it ends
    /// nothing and shows a page whose button signs out instead.
    /// With `everywhere=true` it shows a page whose button ends every session of the user.
    #[oai(path = "/auth/logout", method = "get")]
    async fn logout_get(
        &self,
        req: &Request,
        everywhere: Query<Option<String>>,
        jar: &CookieJar,
    ) -> Result<LogoutGet, PageError> {
        if everywhere.0.as_deref().is_some_and(is_true) {
            return Ok(LogoutGet::confirm_everywhere());
        }
        if super::same_site::is_cross_site(req, &self.service) {
            return Ok(LogoutGet::confirm());
        }
        let Redirect::Found(to) = self.logout(jar, false).await?;
        Ok(LogoutGet::Found(to))
    }

    /// End the session and sign out at the provider; refused for cross-site callers. With
    /// `everywhere=true` (form field or query), every session of the user ends first, each
    /// refresh token revoked.
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout_post(
        &self,
        req: &Request,
        everywhere: Query<Option<String>>,
        body: poem::Body,
        jar: &CookieJar,
    ) -> Result<Redirect, PageError> {
        if let Err(reason) = super::same_site::check(req, &self.service) {
            return Err(PageError::Forbidden(super::error::page("Forbidden", reason)));
        }
        let everywhere = everywhere.0.as_deref().is_some_and(is_true) || form_says_everywhere(req, body).await;
        self.logout(jar, everywhere).await
    }

    /// Refresh the session's tokens now; 401 (and the session ends) when the provider
    /// refuses the refresh token.
    #[oai(path = "/auth/refresh", method = "post")]
    async fn refresh(&self, req: &Request, jar: &CookieJar) -> Result<RefreshResponse, JsonError> {
        if let Err(reason) = super::same_site::check(req, &self.service) {
            return Err(JsonError::Forbidden(ErrorBody::new("forbidden", reason)));
        }
        let cookie = jar.get(self.cookies.session_name());
        let Some(active) = self.service.session(cookie.as_ref().map(|c| c.value_str())).await? else {
            return Err(JsonError::no_session());
        };
        match self.service.refresh(active, RefreshKind::Explicit).await {
            Ok(active) => Ok(RefreshResponse::Ok(Json(Refreshed {
                access_token_expires_at: active.record.access_token_expires_at,
            }))),
            Err(e) => {
                if matches!(e, RefreshError::Ended) {
                    jar.add(self.cookies.clear_session());
                }
                Err(e.into())
            }
        }
    }

    /// Back-channel logout (OpenID Connect Back-Channel Logout 1.0) from the provider.
    #[oai(path = "/auth/backchannel-logout", method = "post")]
    async fn backchannel_logout(&self, form: Form<BackchannelForm>) -> BackchannelResponse {
        match self.service.backchannel_logout(&form.0.logout_token).await {
            Ok(ended) => {
                tracing::info!(sessions_ended = ended, "back-channel logout accepted");
                BackchannelResponse::Ok
            }
            Err(e) => e.into(),
        }
    }
}

impl PublicApi {
    async fn logout(&self, jar: &CookieJar, everywhere: bool) -> Result<Redirect, PageError> {
        let service = &self.service;
        let cookie = jar.get(self.cookies.session_name());
        let cookie = cookie.as_ref().map(|c| c.value_str());
        if everywhere {
            if let Some(active) = service.session(cookie).await? {
                let sub = &active.record.identity.sub;
                // This browser's own session ends below, as any logout's.
                let ended = service.end_all_of(sub, Some(&active.key), "everywhere").await?;
                tracing::info!(ended, "logout everywhere");
            }
        }
        // The cookie goes whatever happens next.
        jar.add(self.cookies.clear_session());
        let url = service.logout(cookie).await?;
        tracing::info!("logout");
        Ok(Redirect::Found(url.to_string()))
    }
}

fn is_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

/// The longest logout form read; it has one field.
const MAX_LOGOUT_FORM: usize = 1024;

/// Whether a form body (`application/x-www-form-urlencoded`) holds `everywhere=true`.
async fn form_says_everywhere(req: &Request, body: poem::Body) -> bool {
    let is_form = req
        .content_type()
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return false;
    }
    let Ok(bytes) = super::body::read_body(body, MAX_LOGOUT_FORM).await else {
        return false;
    };
    url::form_urlencoded::parse(&bytes).any(|(k, v)| k == "everywhere" && is_true(&v))
}
