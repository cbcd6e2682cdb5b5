//! Forward-auth for reverse proxies (README, "Behind a reverse proxy"): the decision on the session
//! already read, against the route's rules (`domain::access`), and where a browser without a
//! session is sent to sign in.

use std::borrow::Cow;
use std::sync::Arc;

use url::{Origin, Url};

use super::return_to::ReturnTo;
use super::sessions::Exposed;
use super::Service;
use crate::domain::access::{Refusal, RouteRules, StepUp};
use crate::domain::now;
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
    /// are exposed).
    Allow(Exposed),
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
            Some(exposed) => Verdict::Allow(exposed),
            // A refresh ended the session: as without one.
            None => self.unauthenticated(rules, page_load, original),
        })
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
