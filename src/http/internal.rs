//! The internal listener: introspection and forward-auth (`forward_auth.rs`) for backends,
//! probes. The internal API's secret and the session cookie's name are this layer's: the
//! service sees cookie values, never requests.

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::cookie::{find_in_header, Cookies};
use super::error::{ErrorBody, JsonError};
use super::jwks::{JsonWebKey, JsonWebKeySet};
use super::lenient::LenientJson;
use crate::domain::{Claims, Secret};
use crate::service::bearer::Bearer;
use crate::service::forward_auth::Verdict;
use crate::service::sessions::{ActiveSession, Exposed};
use crate::service::Service;
use forward_auth::{ForwardAuthError, ForwardAuthResponse, Original};

pub(crate) mod admin;
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
    pub(crate) cookies: Cookies,
    /// `OIDC_INTROSPECTION_SECRET`: what callers must send as `Authorization: Bearer`.
    pub(crate) secret: Option<Secret>,
    /// Rate-limits the warning about forward-auth rules sent below `/forward-auth`; one
    /// per listener, shared by its handlers.
    pub(crate) ignored_rules: Arc<crate::util::throttle::Throttle>,
}

/// `{"session": …}`, or `{"token": …}` with `OIDC_BEARER_AUDIENCES` set.
#[derive(Object)]
pub(crate) struct IntrospectRequest {
    /// The session cookie's value.
    pub(crate) session: Option<String>,
    /// An API client's access token (bearer tokens accepted only with
    /// `OIDC_BEARER_AUDIENCES`).
    pub(crate) token: Option<String>,
}

/// `{"active": false}`, or the session's user when it is live.
///
/// Serialized by serde on the hot path (`hot.rs`) and by poem-openapi for the document:
/// the field attributes keep both alike (tested).
#[derive(Default, Object, serde::Serialize)]
#[oai(skip_serializing_if_is_none)]
pub(crate) struct Introspection {
    pub(crate) active: bool,
    /// `session` or `bearer`, on every active answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
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
    /// Unix seconds: when the user last authenticated at the provider (the ID token's
    /// `auth_time`), when the provider sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth_time: Option<u64>,
    /// The ID token's authentication context class (`acr`), when the provider sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) acr: Option<String>,
    /// The ID token's authentication methods (`amr`), when the provider sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amr: Option<Vec<String>>,
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
        let (session, token) = body.0.map(|b| (b.session, b.token)).unwrap_or_default();
        if let Some(token) = token {
            // Boxed: the bearer path's future (a provider call) would otherwise make every
            // session introspection's future that much larger.
            let bearer = Box::pin(self.service.introspect_bearer(&token)).await;
            return Ok(IntrospectResponse::Ok(Json(
                bearer.map_or_else(Introspection::default, |b| bearer_introspection(&b)),
            )));
        }
        // Without a session in the body, the browser's forwarded cookie.
        let value = session.or_else(|| self.cookie_from(req));
        Ok(IntrospectResponse::Ok(Json(
            match self.service.introspect(value.as_deref()).await? {
                Some(exposed) => introspection(exposed),
                None => Introspection::default(),
            },
        )))
    }

    /// Gatekeeper for reverse proxies: nginx `auth_request`, ingress-nginx `auth-url`,
    /// Traefik ForwardAuth, Caddy `forward_auth`, Envoy ext_authz (HTTP), HAProxy.
    ///
    /// Every method is accepted, and any path below `/forward-auth` (Envoy appends the
    /// original path and query, which are not read). The session comes from the forwarded
    /// `Cookie` header; the original request from `X-Forwarded-Proto`, `-Host`, `-Uri` and
    /// `-Method`, or `X-Original-URL` and `X-Original-Method`. Per-route rules are query
    /// parameters of the bare `/forward-auth` URL: `mode=redirect` (browser page loads
    /// without a session are sent to sign in instead of 401) and the access rules the
    /// README lists under "Per-route rules" (`allowed_groups=a,b`, …; 403 when one fails).
    /// An unknown parameter, another `mode` or an empty list is 400, with or without a
    /// session.
    #[oai(
        path = "/forward-auth",
        method = "get",
        method = "head",
        method = "post",
        method = "put",
        method = "patch",
        method = "delete",
        method = "options",
        tag = "Tag::Sessions"
    )]
    pub(crate) async fn forward_auth(&self, req: &Request) -> Result<ForwardAuthResponse, ForwardAuthError> {
        if self.authorize(req).is_err() {
            return Err(ForwardAuthError::wrong_secret());
        }
        let rules = forward_auth::rules(req, &self.ignored_rules).map_err(ForwardAuthError::bad_rules)?;
        let original = Original::read(req);
        if self.service.accepts_bearer_tokens() {
            if let Some(token) = forward_auth::bearer_token(req, self.secret.is_some()) {
                // Judged by the token alone: its cookie, if any, is not read.
                // Boxed, as in `introspect`.
                let verdict = Box::pin(self.service.forward_auth_bearer(token, &rules, original.url)).await;
                return match verdict {
                    Verdict::AllowBearer(bearer, assertion) => {
                        Ok(ForwardAuthResponse::allow_bearer(&bearer, assertion))
                    }
                    Verdict::InvalidToken(refused) => Err(ForwardAuthError::invalid_token(refused)),
                    Verdict::Deny(refusal) => Err(ForwardAuthError::refused(refusal, original.page_load)),
                    Verdict::StepUp { step_up, .. } => Err(ForwardAuthError::step_up(&step_up)),
                    _ => Err(ForwardAuthError::no_session()),
                };
            }
        }
        let cookie = self.cookie_from(req);
        let verdict = self
            .service
            .forward_auth(cookie.as_deref(), &rules, original.page_load, original.url)
            .await?;
        match verdict {
            Verdict::Allow(exposed, assertion) => Ok(ForwardAuthResponse::allow(exposed, assertion)),
            Verdict::SignIn(url) => Ok(ForwardAuthResponse::SignIn(url.into())),
            Verdict::Unauthenticated => Err(ForwardAuthError::no_session()),
            Verdict::Deny(refusal) => Err(ForwardAuthError::refused(refusal, original.page_load)),
            Verdict::AllowBearer(..) | Verdict::InvalidToken(_) => Err(ForwardAuthError::no_session()),
            Verdict::StepUp { sign_in: Some(url), .. } => Ok(ForwardAuthResponse::SignIn(url.into())),
            Verdict::StepUp { step_up, sign_in: None } => Err(ForwardAuthError::step_up(&step_up)),
        }
    }

    /// The public keys of the identity assertion that forward-auth hands upstreams in
    /// `X-Auth-Request-Assertion` (`OIDC_ASSERTION_KEY`; both keys during a rotation), for
    /// upstreams that verify it. `{"keys": []}` without a key.
    #[oai(path = "/.well-known/jwks.json", method = "get", tag = "Tag::Sessions")]
    async fn assertion_jwks(&self) -> Json<JsonWebKeySet> {
        Json(JsonWebKeySet {
            keys: self
                .service
                .assertion_jwks()
                .into_iter()
                .map(JsonWebKey::from)
                .collect(),
        })
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
        let Some(secret) = &self.secret else {
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
        let name = self.cookies.session_name();
        req.headers()
            .get_all("cookie")
            .iter()
            .filter_map(|h| h.to_str().ok())
            .find_map(|h| find_in_header(h, name))
            .map(str::to_owned)
    }
}

fn introspection(exposed: Exposed) -> Introspection {
    let Exposed {
        session: ActiveSession {
            record,
            idle_expires_at,
            ..
        },
        access_token,
    } = exposed;
    let id = record.identity;
    let authentication = record.authentication;
    Introspection {
        active: true,
        kind: Some("session".into()),
        sub: Some(id.sub),
        sid: record.sid,
        username: id.username,
        email: id.email,
        email_verified: id.email_verified,
        name: id.name,
        groups: Some(id.groups),
        claims: Some(record.claims),
        auth_time: authentication.auth_time,
        acr: authentication.acr,
        amr: Some(authentication.amr).filter(|amr| !amr.is_empty()),
        session_expires_at: Some(idle_expires_at),
        access_token_expires_at: record.access_token_expires_at,
        access_token,
    }
}

/// A bearer token's answer: the session's fields, `kind: "bearer"`, `session_expires_at` =
/// the token's `exp`, no `sid`, never the token.
fn bearer_introspection(bearer: &Bearer) -> Introspection {
    let id = bearer.identity.clone();
    let authentication = crate::domain::Authentication::from_claims(&bearer.claims.to_map());
    Introspection {
        active: true,
        kind: Some("bearer".into()),
        sub: Some(id.sub),
        sid: None,
        username: id.username,
        email: id.email,
        email_verified: id.email_verified,
        name: id.name,
        groups: Some(id.groups),
        claims: Some(bearer.claims.clone()),
        auth_time: authentication.auth_time,
        acr: authentication.acr,
        amr: Some(authentication.amr).filter(|amr| !amr.is_empty()),
        session_expires_at: Some(bearer.exp),
        access_token_expires_at: Some(bearer.exp),
        access_token: None,
    }
}
