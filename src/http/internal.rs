//! The internal listener: introspection and forward-auth (`forward_auth.rs`) for backends, probes.

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::error::{ErrorBody, JsonError};
use super::lenient::LenientJson;
use crate::domain::Claims;
use crate::service::sessions::ActiveSession;
use crate::service::Service;
use crate::session::cookie::find_in_header;

pub(crate) mod forward_auth;
pub(crate) mod hot;
mod wire;

#[derive(Tags)]
enum Tag {
    /// For backend services: who is this session?
    Sessions,
    /// Liveness and readiness.
    Health,
}

pub(crate) struct InternalApi {
    pub(crate) service: Arc<Service>,
}

#[derive(Object)]
pub(crate) struct IntrospectRequest {
    /// The session cookie's value.
    pub(crate) session: String,
}

/// `{"active": false}`, or the session's user when it is live.
///
/// Serialized by serde on the hot path (`hot.rs`) and by poem-openapi for the document:
/// the field attributes keep both alike (tested).
#[derive(Default, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct Introspection {
    pub(crate) active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sub: Option<String>,
    /// The provider's session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) groups: Option<Vec<String>>,
    /// Every claim of the ID token and userinfo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) claims: Option<Claims>,
    /// Unix seconds: when the session ends if it is not used again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_expires_at: Option<u64>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_token_expires_at: Option<u64>,
    /// Only with `OIDC_INTROSPECTION_EXPOSE_TOKENS=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_token: Option<String>,
}

#[derive(ApiResponse)]
pub(crate) enum IntrospectResponse {
    #[oai(status = 200)]
    Ok(Json<Introspection>),
}

#[derive(ApiResponse)]
pub(crate) enum Ready {
    #[oai(status = 200)]
    Ok(PlainText<&'static str>),
    /// Not ready; the reason is in the body.
    #[oai(status = 503)]
    NotReady(Json<ErrorBody>),
}

#[OpenApi]
impl InternalApi {
    /// Who is this session? Always 200: `{"active": false}` for anything but a live session.
    #[oai(path = "/introspect", method = "post", tag = "Tag::Sessions")]
    async fn introspect(
        &self,
        req: &Request,
        body: LenientJson<IntrospectRequest>,
    ) -> Result<IntrospectResponse, JsonError> {
        self.authorize(req)?;
        let value = match body.0 {
            Some(b) => Some(b.session),
            None => self.cookie_from(req),
        };
        let session = match self.service.session(value.as_deref()).await? {
            Some(active) if self.service.settings().introspection_expose_tokens => self.service.fresh(active).await,
            other => other,
        };
        Ok(IntrospectResponse::Ok(Json(match session {
            Some(active) => self.introspection(active),
            None => Introspection::default(),
        })))
    }

    /// Liveness: 200 while the process serves.
    #[oai(path = "/healthz", method = "get", tag = "Tag::Health")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }

    /// Prometheus metrics (text exposition format).
    #[oai(path = "/metrics", method = "get", tag = "Tag::Health")]
    async fn metrics(&self) -> PlainText<String> {
        PlainText(self.service.metrics_text().await)
    }

    /// Readiness: 200 when Redis answers and the provider's metadata and keys are loaded.
    #[oai(path = "/readyz", method = "get", tag = "Tag::Health")]
    async fn readyz(&self) -> Ready {
        match self.service.readiness().await {
            Ok(()) => Ready::Ok(PlainText("ready")),
            Err(reason) => Ready::NotReady(ErrorBody::new("not_ready", reason.to_string())),
        }
    }
}

impl InternalApi {
    /// With `OIDC_INTROSPECTION_SECRET`, callers must send `Authorization: Bearer <secret>`.
    fn authorize(&self, req: &Request) -> Result<(), JsonError> {
        let Some(secret) = &self.service.settings().introspection_secret else {
            return Ok(());
        };
        let given = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if crate::util::secrets_equal(secret.expose().as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(JsonError::Unauthorized(ErrorBody::new(
                "unauthorized",
                "a valid internal API secret is required",
            )))
        }
    }

    fn cookie_from(&self, req: &Request) -> Option<String> {
        let name = self.service.cookies().session_name();
        req.headers()
            .get_all("cookie")
            .iter()
            .filter_map(|h| h.to_str().ok())
            .find_map(|h| find_in_header(h, name))
            .map(str::to_owned)
    }

    fn introspection(&self, active: ActiveSession) -> Introspection {
        let ActiveSession {
            key,
            record,
            idle_expires_at,
        } = active;
        let access_token = if self.service.settings().introspection_expose_tokens {
            self.service.tokens(&key, &record).map(|t| t.access_token)
        } else {
            None
        };
        let id = record.identity;
        Introspection {
            active: true,
            sub: Some(id.sub),
            sid: record.sid,
            username: id.username,
            email: id.email,
            email_verified: id.email_verified,
            name: id.name,
            groups: Some(id.groups),
            claims: Some(record.claims),
            session_expires_at: Some(idle_expires_at),
            access_token_expires_at: record.access_token_expires_at,
            access_token,
        }
    }
}
