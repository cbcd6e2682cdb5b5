//! `GET /auth/sessions` and `DELETE /auth/sessions/{id}`: the signed-in user's own
//! sessions, each named by an opaque handle.

use std::sync::Arc;

use poem::web::cookie::CookieJar;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::cookie::Cookies;
use super::error::{ErrorBody, JsonError};
use crate::service::own_sessions::SessionInfo;
use crate::service::Service;

#[derive(Tags)]
enum Tag {
    /// Browser sign-in and sign-out.
    Auth,
}

pub(crate) struct SessionsApi {
    pub(crate) service: Arc<Service>,
    pub(crate) cookies: Cookies,
}

/// One of the user's live sessions. Times are Unix seconds.
#[derive(Debug, Object)]
pub(crate) struct OwnSession {
    /// An opaque handle for `DELETE /auth/sessions/{id}`: never the cookie value.
    pub(crate) id: String,
    pub(crate) created_at: u64,
    /// When the session was last used (to the second; in its last idle period, at most
    /// the start of that period).
    pub(crate) last_seen_at: u64,
    /// When it ends if it is not used again.
    pub(crate) expires_at: u64,
    /// The browser's `User-Agent` at sign-in (at most 256 characters).
    pub(crate) user_agent: Option<String>,
    /// The session of this request.
    pub(crate) current: bool,
}

#[derive(Debug, Object)]
pub(crate) struct OwnSessions {
    pub(crate) sessions: Vec<OwnSession>,
}

#[derive(ApiResponse)]
pub(crate) enum OwnSessionsResponse {
    #[oai(status = 200)]
    Ok(Json<OwnSessions>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub(crate) enum Ended {
    /// The session has ended; its refresh token is being revoked.
    #[oai(status = 204)]
    NoContent,
}

impl From<SessionInfo> for OwnSession {
    fn from(info: SessionInfo) -> Self {
        Self {
            id: info.id,
            created_at: info.created_at,
            last_seen_at: info.last_seen_at,
            expires_at: info.expires_at,
            user_agent: info.user_agent,
            current: info.current,
        }
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl SessionsApi {
    /// The signed-in user's live sessions, oldest first; 401 without a live session.
    #[oai(path = "/auth/sessions", method = "get")]
    async fn list(&self, jar: &CookieJar) -> Result<OwnSessionsResponse, JsonError> {
        let cookie = jar.get(self.cookies.session_name());
        let Some(active) = self.service.session(cookie.as_ref().map(|c| c.value_str())).await? else {
            return Err(JsonError::no_session());
        };
        let sub = &active.record.identity.sub;
        let sessions = self.service.sessions_of(sub, Some(&active.key)).await?;
        let sessions = sessions.into_iter().map(OwnSession::from).collect();
        Ok(OwnSessionsResponse::Ok(
            Json(OwnSessions { sessions }),
            "no-store".to_owned(),
        ))
    }

    /// Ends one of the signed-in user's own sessions (its refresh token revoked): 204;
    /// 404 for an id that is not one of theirs; 401 without a session; 403 cross-site.
    #[oai(path = "/auth/sessions/:id", method = "delete")]
    async fn end(&self, req: &Request, id: Path<String>, jar: &CookieJar) -> Result<Ended, JsonError> {
        if let Err(reason) = super::same_site::check(req, &self.service) {
            return Err(JsonError::Forbidden(ErrorBody::new("forbidden", reason)));
        }
        let cookie = jar.get(self.cookies.session_name());
        let Some(active) = self.service.session(cookie.as_ref().map(|c| c.value_str())).await? else {
            return Err(JsonError::no_session());
        };
        let sub = &active.record.identity.sub;
        if !self.service.end_by_handle(sub, &id.0, "own_session").await? {
            return Err(JsonError::NotFound(ErrorBody::new(
                "not_found",
                "no live session of yours has this id",
            )));
        }
        if id.0 == active.key.handle(sub) {
            jar.add(self.cookies.clear_session());
        }
        tracing::info!("a session of the user ended by the user");
        Ok(Ended::NoContent)
    }
}
