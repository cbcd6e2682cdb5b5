//! Forward-auth for reverse proxies (SPEC §3.1): the per-route rules a proxy puts in the
//! query of its forward-auth URL, and the decision taken on the session already read.
//!
//! The rules are parsed on every request, so they borrow from the query string: nothing is
//! copied unless a value is percent-encoded, and list items are decoded only when compared.

use std::borrow::Cow;
use std::sync::Arc;

use url::{Origin, Url};

use super::return_to::ReturnTo;
use super::sessions::ActiveSession;
use super::Service;
use crate::session::{Identity, StoreError};

/// The rules of one route, e.g. `mode=redirect&allowed_groups=admins,ops`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteRules<'q> {
    /// `mode=redirect`: a browser page load without a session is sent to sign in.
    pub redirect: bool,
    groups: Option<List<'q>>,
    emails: Option<List<'q>>,
    domains: Option<List<'q>>,
}

/// A proxy configuration error: the answer is 400 naming the parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum RuleError {
    #[error(
        "unknown parameter `{0}` in the forward-auth URL (known: mode, allowed_groups, allowed_emails, allowed_email_domains)"
    )]
    Unknown(String),
    #[error("`mode` must be `redirect` (or left out for 401 answers)")]
    Mode,
    #[error("`{0}` is empty: list at least one value, comma-separated")]
    Empty(&'static str),
    #[error("`{0}` is given more than once: give one comma-separated list")]
    Repeated(&'static str),
    #[error("`allowed_emails` lists `{0}`, which is not an email address")]
    NotAnEmail(String),
    #[error("`allowed_email_domains` lists `{0}`: give the domain alone, without `@`")]
    NotADomain(String),
}

/// Why a live session may not pass a route.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    #[error("your account is not in a group allowed here")]
    Group,
    #[error("your email address is not verified")]
    EmailNotVerified,
    #[error("your email address is not allowed here")]
    Email,
    #[error("your email domain is not allowed here")]
    Domain,
}

/// A comma-separated list as written in the query (still percent-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct List<'q>(&'q str);

impl<'q> List<'q> {
    /// The items, decoded and trimmed; empty items are skipped (`a,,b`, a trailing comma).
    fn items(self) -> impl Iterator<Item = Cow<'q, str>> {
        self.0.split(',').filter_map(|raw| {
            let item = decode(raw);
            let trimmed = item.trim();
            if trimmed.is_empty() {
                None
            } else if trimmed.len() == item.len() {
                Some(item)
            } else {
                Some(Cow::Owned(trimmed.to_owned()))
            }
        })
    }
}

/// Query-string decoding (`+` is a space, `%XX` a byte); borrowed when there is nothing to decode.
fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['%', '+']) {
        return Cow::Borrowed(raw);
    }
    let spaced = raw.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Case-insensitive comparison of emails and domains, ASCII letters only: Unicode lower
/// case would let a look-alike (the Kelvin sign `K`) match `k`. Domains are ASCII after IDNA.
fn same_ignoring_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl<'q> RouteRules<'q> {
    /// Parses the query of a bare `/forward-auth` URL.
    pub(crate) fn parse(query: &'q str) -> Result<Self, RuleError> {
        let mut rules = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, name) = match decode(key).as_ref() {
                "mode" => {
                    if rules.redirect {
                        return Err(RuleError::Repeated("mode"));
                    }
                    if decode(value) != "redirect" {
                        return Err(RuleError::Mode);
                    }
                    rules.redirect = true;
                    continue;
                }
                "allowed_groups" => (&mut rules.groups, "allowed_groups"),
                "allowed_emails" => (&mut rules.emails, "allowed_emails"),
                "allowed_email_domains" => (&mut rules.domains, "allowed_email_domains"),
                other => return Err(RuleError::Unknown(other.chars().take(64).collect())),
            };
            if slot.is_some() {
                return Err(RuleError::Repeated(name));
            }
            let list = List(value);
            if list.items().next().is_none() {
                return Err(RuleError::Empty(name));
            }
            for item in list.items() {
                match name {
                    "allowed_emails"
                        if item.matches('@').count() != 1 || item.starts_with('@') || item.ends_with('@') =>
                    {
                        return Err(RuleError::NotAnEmail(item.into_owned()))
                    }
                    "allowed_email_domains" if item.contains('@') => {
                        return Err(RuleError::NotADomain(item.into_owned()))
                    }
                    _ => {}
                }
            }
            *slot = Some(list);
        }
        Ok(rules)
    }

    /// Every rule given must hold. Groups compare exactly; emails and domains ignoring
    /// case, and only a verified email counts.
    pub(crate) fn check(&self, identity: &Identity) -> Result<(), Denied> {
        if let Some(allowed) = self.groups {
            if !allowed.items().any(|a| identity.groups.iter().any(|g| *g == *a)) {
                return Err(Denied::Group);
            }
        }
        if self.emails.is_none() && self.domains.is_none() {
            return Ok(());
        }
        let email = match (&identity.email, identity.email_verified) {
            (Some(email), Some(true)) => email.as_str(),
            _ => return Err(Denied::EmailNotVerified),
        };
        if let Some(allowed) = self.emails {
            if !allowed.items().any(|a| same_ignoring_case(&a, email)) {
                return Err(Denied::Email);
            }
        }
        if let Some(allowed) = self.domains {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            if domain.is_empty() || !allowed.items().any(|a| same_ignoring_case(&a, domain)) {
                return Err(Denied::Domain);
            }
        }
        Ok(())
    }
}

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
    /// A live session that passes the route's rules.
    Allow(ActiveSession),
    /// A live session that fails them.
    Deny(Denied),
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
        if let Err(denied) = rules.check(&active.record.identity) {
            return Ok(Verdict::Deny(denied));
        }
        if !self.settings.introspection_expose_tokens {
            return Ok(Verdict::Allow(active));
        }
        Ok(match self.fresh(active).await {
            Some(active) => Verdict::Allow(active),
            // The refresh ended the session: as without one.
            None => self.unauthenticated(rules, page_load, original),
        })
    }

    /// The answer without a live session.
    fn unauthenticated(&self, rules: &RouteRules<'_>, page_load: bool, original: Option<OriginalUrl<'_>>) -> Verdict {
        let allowed = &self.settings.redirects.allowed_return_origins;
        match original {
            Some(original) if rules.redirect && page_load => original
                .sign_in_url(&self.own_origin, allowed)
                .map_or(Verdict::Unauthenticated, Verdict::SignIn),
            _ => Verdict::Unauthenticated,
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
