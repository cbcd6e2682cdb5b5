//! `/forward-auth` (README, "Behind a reverse proxy"): what a reverse proxy says about the
//! original request, and the answer it expects. The decision itself is
//! `Service::forward_auth`'s.

use poem::Request;
use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, OpenApi, ResponseContent};

use super::wire::{groups_header, header_safe, HeaderText};
use super::{InternalApi, Tag};
use crate::domain::access::{RouteRules, RuleError};
use crate::http::error::{page, ErrorBody};
use crate::service::forward_auth::{OriginalUrl, Verdict};
use crate::service::sessions::ActiveSession;
use crate::session::StoreError;
use crate::util::error_chain;

/// Where forward-auth is served; any path below it is Envoy's appended original path.
pub(crate) const PATH: &str = "/forward-auth";

pub(crate) struct ForwardAuthApi(pub(crate) InternalApi);

#[derive(ApiResponse)]
pub(crate) enum ForwardAuthResponse {
    /// A live session that passes the route's rules: the user in headers (with
    /// `OIDC_INTROSPECTION_EXPOSE_TOKENS=true` also the access token). Groups are joined
    /// with `,` after `%` and `,` in each name are percent-encoded.
    #[oai(status = 200)]
    Ok(
        #[oai(header = "X-Auth-Request-User")] HeaderText,
        #[oai(header = "X-Auth-Request-Email")] HeaderText,
        #[oai(header = "X-Auth-Request-Groups")] HeaderText,
        #[oai(header = "X-Auth-Request-Sub")] HeaderText,
        #[oai(header = "Authorization")] Option<HeaderText>,
        #[oai(header = "X-Auth-Request-Access-Token")] Option<HeaderText>,
    ),
    /// No live session, `mode=redirect` and a browser page load: sign in first
    /// (`<own origin>/auth/login?return_to=<original URL>`).
    #[oai(status = 302)]
    SignIn(#[oai(header = "Location")] String),
}

/// Every other answer, in the JSON error shape (a 403 for a browser page load is a page).
#[derive(ApiResponse)]
pub(crate) enum ForwardAuthError {
    /// A per-route rule of the forward-auth URL is wrong; the parameter is named.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No live session (without `mode=redirect`, or not a browser page load), or a wrong
    /// internal API secret.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A live session that fails the route's rules.
    #[oai(status = 403)]
    Forbidden(Refusal),
    /// The session store is unavailable; try again.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl From<StoreError> for ForwardAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %error_chain(&e), "session store failed");
        Self::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
    }
}

fn no_session() -> ForwardAuthError {
    ForwardAuthError::Unauthorized(ErrorBody::new("unauthorized", "no live session"))
}

#[derive(ResponseContent)]
pub(crate) enum Refusal {
    Page(Html<String>),
    Json(Json<ErrorBody>),
}

#[OpenApi]
impl ForwardAuthApi {
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
        let api = &self.0;
        if api.authorize(req).is_err() {
            let refused = ErrorBody::new("unauthorized", "a valid internal API secret is required");
            return Err(ForwardAuthError::Unauthorized(refused));
        }
        let rules =
            rules(req).map_err(|e| ForwardAuthError::BadRequest(ErrorBody::new("invalid_request", e.to_string())))?;
        let original = Original::read(req);
        let cookie = api.cookie_from(req);
        let verdict = api
            .service
            .forward_auth(cookie.as_deref(), &rules, original.page_load, original.url)
            .await?;
        match verdict {
            Verdict::Allow(active) => Ok(self.identity_headers(active)),
            Verdict::SignIn(url) => Ok(ForwardAuthResponse::SignIn(url.into())),
            Verdict::Unauthenticated => Err(no_session()),
            Verdict::Deny(refusal) => Err(ForwardAuthError::Forbidden(if original.page_load {
                Refusal::Page(page("Access denied", &refusal.to_string()))
            } else {
                Refusal::Json(ErrorBody::new("forbidden", refusal.to_string()))
            })),
        }
    }
}

impl ForwardAuthApi {
    fn identity_headers(&self, active: ActiveSession) -> ForwardAuthResponse {
        let service = &self.0.service;
        let access_token = if service.settings().introspection_expose_tokens {
            service.tokens(&active.key, &active.record).map(|t| t.access_token)
        } else {
            None
        };
        let id = active.record.identity;
        ForwardAuthResponse::Ok(
            header_safe(id.username.unwrap_or_default()),
            header_safe(id.email.unwrap_or_default()),
            groups_header(&id.groups),
            header_safe(id.sub),
            access_token.as_ref().map(|t| header_safe(format!("Bearer {t}"))),
            access_token.map(header_safe),
        )
    }
}

/// The route's rules: the query of the bare URL. Below it, the query is the original
/// request's (Envoy) and is not read.
fn rules(req: &Request) -> Result<RouteRules<'_>, RuleError> {
    if req.uri().path() == PATH {
        RouteRules::parse(req.uri().query().unwrap_or(""))
    } else {
        Ok(RouteRules::default())
    }
}

/// The original request, as the proxy describes it in headers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Original<'r> {
    /// `None` when the proxy did not say (then no redirect is possible).
    pub url: Option<OriginalUrl<'r>>,
    /// A browser loading a page, rather than a script or an API client.
    pub page_load: bool,
}

impl<'r> Original<'r> {
    pub(crate) fn read(req: &'r Request) -> Self {
        let method = req
            .header("x-forwarded-method")
            .or_else(|| req.header("x-original-method"))
            .unwrap_or(req.method().as_str());
        Self {
            url: original_url(req),
            page_load: is_page_load(
                method,
                req.header("accept"),
                req.header("sec-fetch-mode"),
                req.header("x-requested-with"),
            ),
        }
    }
}

/// `X-Forwarded-Proto` + `-Host` + `-Uri` (Traefik, Caddy) when `X-Forwarded-Uri` is
/// there, otherwise `X-Original-URL` (ingress-nginx).
fn original_url(req: &Request) -> Option<OriginalUrl<'_>> {
    if let Some(path_and_query) = req.header("x-forwarded-uri") {
        return Some(OriginalUrl {
            scheme: first(req.header("x-forwarded-proto")?),
            authority: first(req.header("x-forwarded-host")?),
            path_and_query,
        });
    }
    split_url(req.header("x-original-url")?)
}

/// A proxy behind another one may list several values; the first is the client's.
fn first(value: &str) -> &str {
    value.split(',').next().unwrap_or("").trim()
}

/// An absolute URL in its raw parts, without normalising anything a browser would read
/// differently (`\`, a doubled `/`): that is left for the redirect rule to refuse.
fn split_url(url: &str) -> Option<OriginalUrl<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    Some(OriginalUrl {
        scheme,
        authority,
        path_and_query: if path_and_query.is_empty() { "/" } else { path_and_query },
    })
}

/// A `GET` or `HEAD` whose `Accept` names `text/html` (a bare `*/*` does not count), with
/// `Sec-Fetch-Mode` absent or `navigate`, and no `X-Requested-With: XMLHttpRequest`.
fn is_page_load(method: &str, accept: Option<&str>, fetch_mode: Option<&str>, requested_with: Option<&str>) -> bool {
    let read = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    let navigates = fetch_mode.is_none_or(|m| m.trim().eq_ignore_ascii_case("navigate"));
    let scripted = requested_with.is_some_and(|v| v.trim().eq_ignore_ascii_case("XMLHttpRequest"));
    read && navigates && !scripted && accept.is_some_and(accepts_html)
}

/// Whether an `Accept` value names `text/html` with a quality above 0.
fn accepts_html(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("text/html")
            && parts.all(|p| {
                let p = p.trim();
                let q = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="));
                q.is_none_or(|q| q.trim().parse::<f32>().map_or(true, |q| q > 0.0))
            })
    })
}

#[cfg(test)]
mod tests;
