//! The operator API (README, "Operator API"): `/admin/sessions…` on the internal listener,
//! only with `OIDC_ADMIN_SECRET` (else 404), callers sending `Authorization: Bearer
//! <admin secret>` (anything else 401). Every call is an `info` audit line; sessions ended
//! here count as `logouts{kind="admin"}`.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::domain::Secret;
use crate::http::error::{ErrorBody, JsonError};
use crate::service::own_sessions::SessionInfo;
use crate::service::Service;
use crate::session::sub_of_handle;

#[derive(Tags)]
enum Tag {
    /// For operators: list and end anyone's sessions.
    Admin,
}

pub(crate) struct AdminApi {
    pub(crate) service: Arc<Service>,
    /// `OIDC_ADMIN_SECRET`; `None`: every endpoint answers 404.
    pub(crate) secret: Option<Secret>,
}

/// One live session of a user. Times are Unix seconds.
#[derive(Debug, Object)]
pub(crate) struct AdminSession {
    /// The session's opaque handle, for `DELETE /admin/sessions/{id}`.
    pub(crate) id: String,
    pub(crate) sub: String,
    pub(crate) created_at: u64,
    pub(crate) last_seen_at: u64,
    /// When it ends if it is not used again.
    pub(crate) expires_at: u64,
    pub(crate) user_agent: Option<String>,
}

#[derive(Debug, Object)]
pub(crate) struct AdminSessions {
    pub(crate) sessions: Vec<AdminSession>,
}

#[derive(Debug, Object)]
pub(crate) struct EndedCount {
    /// How many sessions ended.
    pub(crate) ended: u64,
}

#[derive(ApiResponse)]
pub(crate) enum AdminList {
    #[oai(status = 200)]
    Ok(Json<AdminSessions>),
}

#[derive(ApiResponse)]
pub(crate) enum AdminEnded {
    #[oai(status = 200)]
    Ok(Json<EndedCount>),
}

#[derive(ApiResponse)]
pub(crate) enum AdminEndedOne {
    /// The session has ended; its refresh token is being revoked.
    #[oai(status = 204)]
    NoContent,
}

impl From<SessionInfo> for AdminSession {
    fn from(info: SessionInfo) -> Self {
        Self {
            id: info.id,
            sub: info.sub,
            created_at: info.created_at,
            last_seen_at: info.last_seen_at,
            expires_at: info.expires_at,
            user_agent: info.user_agent,
        }
    }
}

fn not_found() -> JsonError {
    JsonError::NotFound(ErrorBody::new("not_found", "no such session"))
}

/// `sub` as given: present and not empty.
fn required_sub(sub: Option<String>) -> Result<String, JsonError> {
    sub.filter(|s| !s.is_empty())
        .ok_or_else(|| JsonError::BadRequest(ErrorBody::new("invalid_request", "`sub` is required")))
}

#[OpenApi(tag = "Tag::Admin")]
impl AdminApi {
    /// The live sessions of a user (`sub`); an unknown `sub` gives an empty list.
    #[oai(path = "/admin/sessions", method = "get")]
    async fn list(&self, req: &Request, sub: Query<Option<String>>) -> Result<AdminList, JsonError> {
        self.authorize(req)?;
        let sub = required_sub(sub.0)?;
        let sessions = self.service.sessions_of(&sub, None).await?;
        tracing::info!(sub = %sub, count = sessions.len(), "admin: listed a user's sessions");
        let sessions = sessions.into_iter().map(AdminSession::from).collect();
        Ok(AdminList::Ok(Json(AdminSessions { sessions })))
    }

    /// Ends every session of a user on every replica, revoking their refresh tokens off
    /// the request: `{"ended": N}`.
    #[oai(path = "/admin/sessions", method = "delete")]
    async fn end_all(&self, req: &Request, sub: Query<Option<String>>) -> Result<AdminEnded, JsonError> {
        self.authorize(req)?;
        let sub = required_sub(sub.0)?;
        let ended = self.service.end_all_of(&sub, None, "admin").await?;
        tracing::info!(sub = %sub, ended, "admin: ended a user's sessions");
        Ok(AdminEnded::Ok(Json(EndedCount { ended: ended as u64 })))
    }

    /// Ends one session: 204, or 404.
    #[oai(path = "/admin/sessions/:id", method = "delete")]
    async fn end_one(&self, req: &Request, id: Path<String>) -> Result<AdminEndedOne, JsonError> {
        self.authorize(req)?;
        let Some(sub) = sub_of_handle(&id.0) else {
            tracing::info!("admin: asked to end a session by an id that is no session's");
            return Err(not_found());
        };
        if !self.service.end_by_handle(&sub, &id.0, "admin").await? {
            tracing::info!(sub = %sub, ended = 0, "admin: asked to end a session that is not live");
            return Err(not_found());
        }
        tracing::info!(sub = %sub, ended = 1, "admin: ended a session");
        Ok(AdminEndedOne::NoContent)
    }
}

impl AdminApi {
    /// 404 without `OIDC_ADMIN_SECRET`; 401 unless the caller sends it, compared in
    /// constant time.
    fn authorize(&self, req: &Request) -> Result<(), JsonError> {
        let Some(secret) = &self.secret else {
            return Err(JsonError::NotFound(ErrorBody::new(
                "not_found",
                "the operator API is off (OIDC_ADMIN_SECRET is not set)",
            )));
        };
        let given = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if crate::util::secrets_equal(secret.expose().as_bytes(), given.as_bytes()) {
            return Ok(());
        }
        tracing::info!("admin: refused a call without the admin secret");
        Err(JsonError::Unauthorized(ErrorBody::new(
            "unauthorized",
            "the operator API needs `Authorization: Bearer <OIDC_ADMIN_SECRET>`",
        )))
    }
}
