//! `/forward-auth` (README, "Behind a reverse proxy"): what a reverse proxy says about the
//! original request, and the answers it expects. The handler is `InternalApi::forward_auth`;
//! the decision is `Service::forward_auth`'s.

use std::sync::Arc;
use std::time::Duration;

use poem::Request;
use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, ResponseContent};

use super::wire::{groups_header, header_safe, HeaderText};
use crate::domain::access::{Refusal, RouteRules, RuleError, StepUp, PARAMETERS};
use crate::http::error::{page, ErrorBody};
use crate::oidc::access_token::AccessTokenError;
use crate::service::bearer::Bearer;
use crate::service::forward_auth::OriginalUrl;
use crate::service::sessions::Exposed;
use crate::session::StoreError;
use crate::util::throttle::Throttle;

/// Where forward-auth is served; any path below it is Envoy's appended original path.
pub(crate) const PATH: &str = "/forward-auth";

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
        /// The identity assertion, a JWT signed with `OIDC_ASSERTION_KEY` (when set).
        #[oai(header = "X-Auth-Request-Assertion")]
        Option<HeaderText>,
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
    /// internal API secret; or a session that fails only the route's step-up rules
    /// (`insufficient_user_authentication`, with the RFC 9470 `WWW-Authenticate` challenge
    /// carrying `max_age` and/or `acr_values`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] Option<String>),
    /// A refused bearer token (RFC 6750): `WWW-Authenticate: Bearer error="invalid_token"`
    /// and the reason; never a redirect.
    #[oai(status = 401)]
    InvalidToken(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// A live session that fails the route's rules.
    #[oai(status = 403)]
    Forbidden(RefusalBody),
    /// The session store is unavailable; try again.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl From<StoreError> for ForwardAuthError {
    fn from(e: StoreError) -> Self {
        crate::http::error::log_store_failure(&e);
        Self::Unavailable(ErrorBody::new("temporarily_unavailable", e.to_string()))
    }
}

#[derive(ResponseContent)]
pub(crate) enum RefusalBody {
    Page(Html<String>),
    Json(Json<ErrorBody>),
}

impl ForwardAuthResponse {
    /// The 200: the user in headers, the access token when tokens are exposed, and the
    /// identity assertion when a key is configured.
    pub(crate) fn allow(exposed: Exposed, assertion: Option<Arc<str>>) -> Self {
        let Exposed { session, access_token } = exposed;
        let id = session.record.identity;
        Self::Ok(
            header_safe(id.username.unwrap_or_default()),
            header_safe(id.email.unwrap_or_default()),
            groups_header(&id.groups),
            header_safe(id.sub),
            access_token.as_ref().map(|t| header_safe(format!("Bearer {t}"))),
            access_token.map(header_safe),
            assertion.map(|jwt| header_safe(jwt.to_string())),
        )
    }
}

impl ForwardAuthResponse {
    /// The 200 for a bearer token: the user in headers, never the token (the upstream
    /// already has it), and the identity assertion when a key is configured.
    pub(crate) fn allow_bearer(bearer: &Bearer, assertion: Option<Arc<str>>) -> Self {
        let id = &bearer.identity;
        Self::Ok(
            header_safe(id.username.clone().unwrap_or_default()),
            header_safe(id.email.clone().unwrap_or_default()),
            groups_header(&id.groups),
            header_safe(id.sub.clone()),
            None,
            None,
            assertion.map(|jwt| header_safe(jwt.to_string())),
        )
    }
}

impl ForwardAuthError {
    pub(crate) fn no_session() -> Self {
        Self::Unauthorized(ErrorBody::new("unauthorized", "no live session"), None)
    }

    pub(crate) fn wrong_secret() -> Self {
        let body = ErrorBody::new("unauthorized", "a valid internal API secret is required");
        Self::Unauthorized(body, None)
    }

    /// RFC 9470: the session must authenticate again as `step_up` says.
    pub(crate) fn step_up(step_up: &StepUp) -> Self {
        let body = ErrorBody::new(
            "insufficient_user_authentication",
            "this route needs a more recent or stronger sign-in",
        );
        Self::Unauthorized(body, Some(step_up.challenge()))
    }

    /// A bearer token that is refused: 401 naming the reason; 503 when the provider could
    /// not be asked (nothing is known about the token then).
    pub(crate) fn invalid_token(refused: AccessTokenError) -> Self {
        let reason = refused.to_string();
        match refused {
            AccessTokenError::ProviderNotReady | AccessTokenError::IntrospectionFailed => {
                Self::Unavailable(ErrorBody::new("temporarily_unavailable", reason))
            }
            _ => {
                let quoted = reason.replace(['"', '\\'], "'");
                let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{quoted}\"");
                Self::InvalidToken(ErrorBody::new("invalid_token", reason), challenge)
            }
        }
    }

    pub(crate) fn bad_rules(e: RuleError) -> Self {
        Self::BadRequest(ErrorBody::new("invalid_request", e.to_string()))
    }

    /// 403: a page for a browser page load, the JSON error shape otherwise.
    pub(crate) fn refused(refusal: Refusal, page_load: bool) -> Self {
        Self::Forbidden(if page_load {
            RefusalBody::Page(page("Access denied", &refusal.to_string()))
        } else {
            RefusalBody::Json(ErrorBody::new("forbidden", refusal.to_string()))
        })
    }
}

/// The route's rules: the query of the bare URL. Below it, the query is the original
/// request's (Envoy) and is not read.
/// `ignored` rate-limits the warning about rule parameters sent below it.
pub(crate) fn rules<'r>(req: &'r Request, ignored: &Throttle) -> Result<RouteRules<'r>, RuleError> {
    if req.uri().path() == PATH {
        RouteRules::parse(req.uri().query().unwrap_or(""))
    } else {
        warn_of_ignored_rules(req.uri().query().unwrap_or(""), ignored);
        Ok(RouteRules::default())
    }
}

/// The bearer token of an API client: `X-Forwarded-Authorization` when the proxy sends it,
/// else `Authorization` when that header does not carry the internal API secret.
pub(crate) fn bearer_token(req: &Request, secret_set: bool) -> Option<&str> {
    let header = match req.header("x-forwarded-authorization") {
        Some(forwarded) => forwarded,
        None if !secret_set => req.header("authorization")?,
        None => return None,
    };
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// How often the warning about rule parameters below `/forward-auth` may be written.
pub(crate) const IGNORED_RULES_WARNING_EVERY: Duration = Duration::from_secs(60);

/// A proxy configured with `/forward-auth/?allowed_groups=admins` (one slash too many)
/// has no rule checked at all, and lets every signed-in user through: say so in the log.
/// Envoy's appended original query may trip this too, hence the rate limit.
fn warn_of_ignored_rules(query: &str, throttle: &Throttle) {
    let mut names: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .filter(|name| name == "mode" || PARAMETERS.contains(&name.as_str()))
        .collect();
    names.dedup();
    if names.is_empty() {
        return;
    }
    if let Some(suppressed) = throttle.allow("sub-path rules") {
        tracing::warn!(
            parameters = %names.join(","),
            suppressed,
            "forward-auth rule parameters on a path below /forward-auth are not read (there the query is the \
             original request's): put them on /forward-auth itself, without a trailing slash"
        );
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
