//! Forward-auth for reverse proxies (README, "Behind a reverse proxy"): the decision on the session
//! already read, against the route's rules (`domain::access`), and where a browser without a
//! session is sent to sign in.

use std::borrow::Cow;
use std::sync::Arc;

use url::{Origin, Url};

use super::bearer::Bearer;
use super::return_to::ReturnTo;
use super::sessions::Exposed;
use super::Service;
use crate::domain::access::{Refusal, RouteRules, StepUp};
use crate::domain::{now, Authentication, Identity};
use crate::oidc::access_token::AccessTokenError;
use crate::session::StoreError;

/// The URL of the request the proxy asks about, in its raw parts as the proxy sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OriginalUrl<'r> {
    pub scheme: &'r str,
    /// `host[:port]`.
    pub authority: &'r str,
    /// Path and query, e.g. `/a/b?c=d`.
    pub path_and_query: &'r str,
}

/// What forward-auth answers.
// Returned once per request and consumed at once: boxing the session would only add an
// allocation to the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Verdict {
    /// A live session that passes the route's rules (with its access token when tokens
    /// are exposed), and the identity assertion for the upstream when a key is configured.
    Allow(Exposed, Option<Arc<str>>),
    /// A live session that fails them.
    Deny(Refusal),
    /// A live session that fails only the route's step-up rules: sign in again, as
    /// `step_up` asks, at `sign_in` (`mode=redirect` and a browser page load), else the
    /// RFC 9470 401.
    StepUp { step_up: StepUp, sign_in: Option<Url> },
    /// No live session, `mode=redirect` and a browser page load: go here to sign in.
    SignIn(Url),
    /// No live session otherwise.
    Unauthenticated,
    /// A bearer token the provider vouches for, and its identity assertion.
    AllowBearer(Arc<Bearer>, Option<Arc<str>>),
    /// A bearer token that is refused, and why (never a redirect).
    InvalidToken(AccessTokenError),
}

impl Service {
    /// Decides on one forward-auth request: one session read (sliding its idle timeout),
    /// the route's rules checked on that record. With `OIDC_INTROSPECTION_EXPOSE_TOKENS`
    /// the access token is refreshed first when close to expiry, as for introspection.
    pub(crate) async fn forward_auth(
        self: &Arc<Self>,
        cookie_value: Option<&str>,
        rules: &RouteRules<'_>,
        page_load: bool,
        original: Option<OriginalUrl<'_>>,
    ) -> Result<Verdict, StoreError> {
        let Some(active) = self.session(cookie_value).await? else {
            return Ok(self.unauthenticated(rules, page_load, original));
        };
        let record = &active.record;
        match rules.check(&record.identity, &record.authentication, now()) {
            Ok(()) => {}
            Err(refusal) if refusal.is_step_up() => {
                let step_up = rules.step_up();
                let sign_in = self.sign_in_url(rules, page_load, original).map(|mut url| {
                    url.query_pairs_mut().extend_pairs(step_up.parameters());
                    url
                });
                return Ok(Verdict::StepUp { step_up, sign_in });
            }
            Err(refusal) => return Ok(Verdict::Deny(refusal)),
        }
        Ok(match self.expose(active).await {
            Some(exposed) => {
                let holder = &exposed.session.key.0;
                let assertion = self.assertion(holder, &exposed.session.record.identity, rules, original, None);
                Verdict::Allow(exposed, assertion)
            }
            // A refresh ended the session: as without one.
            None => self.unauthenticated(rules, page_load, original),
        })
    }

    /// The identity assertion for an admitted request: `aud` is the route's `audience`, else
    /// the original request's origin, else the service's own. `None` without a key.
    pub(crate) fn assertion(
        &self,
        holder: &str,
        identity: &Identity,
        rules: &RouteRules<'_>,
        original: Option<OriginalUrl<'_>>,
        not_after: Option<u64>,
    ) -> Option<Arc<str>> {
        let assertions = self.assertions.as_ref()?;
        let origin = original.and_then(|o| o.origin());
        let audience = match (&rules.audience, &origin) {
            (Some(audience), _) => audience.as_ref(),
            (None, Some(origin)) => origin.as_str(),
            (None, None) => assertions.issuer(),
        };
        assertions.issue(holder, identity, audience, not_after, now())
    }

    /// Forward-auth for a request that carries a bearer token: the token alone decides;
    /// the sign-in rules and the route's rules apply to its identity as to a session's.
    pub(crate) async fn forward_auth_bearer(
        &self,
        token: &str,
        rules: &RouteRules<'_>,
        original: Option<OriginalUrl<'_>>,
    ) -> Verdict {
        let bearer = match self.bearer(token).await {
            Ok(bearer) => bearer,
            Err(refused) => return Verdict::InvalidToken(refused),
        };
        // Step-up rules read the token's own `auth_time`/`acr`: a token without them fails,
        // and its caller gets the RFC 9470 challenge (a token from a fresher sign-in passes).
        let authentication = Authentication::from_claims(&bearer.claims.to_map());
        match self
            .admits(&bearer.identity)
            .and_then(|()| rules.check(&bearer.identity, &authentication, now()))
        {
            Ok(()) => {}
            Err(refusal) if refusal.is_step_up() => {
                let step_up = rules.step_up();
                return Verdict::StepUp { step_up, sign_in: None };
            }
            Err(refusal) => return Verdict::Deny(refusal),
        }
        let assertion = self.assertion(&bearer.holder, &bearer.identity, rules, original, Some(bearer.exp));
        Verdict::AllowBearer(bearer, assertion)
    }

    /// The answer without a live session.
    fn unauthenticated(&self, rules: &RouteRules<'_>, page_load: bool, original: Option<OriginalUrl<'_>>) -> Verdict {
        self.sign_in_url(rules, page_load, original)
            .map_or(Verdict::Unauthenticated, Verdict::SignIn)
    }

    /// Where a browser page load goes to sign in under `mode=redirect`; `None` otherwise.
    fn sign_in_url(&self, rules: &RouteRules<'_>, page_load: bool, original: Option<OriginalUrl<'_>>) -> Option<Url> {
        let allowed = &self.settings.redirects.allowed_return_origins;
        match original {
            Some(original) if rules.redirect && page_load => original.sign_in_url(&self.own_origin, allowed),
            _ => None,
        }
    }
}

impl OriginalUrl<'_> {
    /// The origin (`https://host[:port]`) of a web URL; `None` for anything else.
    pub(crate) fn origin(&self) -> Option<String> {
        let web = self.scheme.eq_ignore_ascii_case("http") || self.scheme.eq_ignore_ascii_case("https");
        if !web || self.authority.is_empty() || self.authority.contains(['/', '\\', '?', '#', '@']) {
            return None;
        }
        let origin = Url::parse(&format!("{}://{}/", self.scheme, self.authority))
            .ok()?
            .origin();
        origin.is_tuple().then(|| origin.ascii_serialization())
    }

    /// `<own origin>/auth/login?return_to=…` when `GET /auth/login` would accept this URL
    /// as `return_to` (its path and query on the own origin, the whole URL on an allowed
    /// origin); `None` for anything else, so that no redirect ever leaves those origins.
    pub(crate) fn sign_in_url(&self, own: &Origin, allowed: &[Origin]) -> Option<Url> {
        let Self {
            scheme,
            authority,
            path_and_query,
        } = *self;
        // A path a browser would read as another host (`//host`) is never sent anywhere.
        if !path_and_query.starts_with('/') || path_and_query.starts_with("//") {
            return None;
        }
        let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
        if !web || authority.is_empty() || authority.contains(['/', '\\', '?', '#', '@']) {
            return None;
        }
        let origin = Url::parse(&format!("{scheme}://{authority}/")).ok()?.origin();
        let candidate = if &origin == own {
            Cow::Borrowed(path_and_query)
        } else {
            Cow::Owned(format!("{}{path_and_query}", origin.ascii_serialization()))
        };
        let return_to = ReturnTo::parse(&candidate, own, allowed).ok()?.into_string();
        let mut url = Url::parse(&own.ascii_serialization()).ok()?.join("/auth/login").ok()?;
        url.query_pairs_mut().append_pair("return_to", &return_to);
        Some(url)
    }
}

#[cfg(test)]
mod tests;
