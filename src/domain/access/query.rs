//! The rules of one route as a proxy writes them in the query of its forward-auth URL,
//! e.g. `mode=redirect&allowed_groups=admins,ops`.
//!
//! They are parsed on every request, so they borrow from the query string: nothing is
//! copied unless a value is percent-encoded, and list items are decoded only when compared.

use std::borrow::Cow;
use std::fmt;

use super::{Refusal, Rule, Scope, StepUp, PARAMETERS};
use crate::domain::{Authentication, Identity};

/// The rules of one route, and how it answers without a session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RouteRules<'q> {
    /// `mode=redirect`: a browser page load without a session is sent to sign in.
    pub redirect: bool,
    /// `audience=x`: the `aud` of the identity assertion handed to the upstream. Not a rule:
    /// it restricts nothing.
    pub audience: Option<Cow<'q, str>>,
    /// At most one rule per parameter, at that parameter's place in [`PARAMETERS`].
    rules: [Option<Rule<'q>>; PARAMETERS.len()],
}

/// A proxy configuration error: the answer is 400 naming the parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum RuleError {
    #[error("unknown parameter `{0}` in the forward-auth URL (known: mode, audience{known})", known = Known)]
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
    #[error("`max_age` must be a whole number of seconds, not `{0}`")]
    NotSeconds(String),
    #[error("`acr_values` lists `{0}`: values are printable ASCII without spaces, `\"` or `\\`")]
    NotAnAcr(String),
    #[error("`{0}` lists more than {1} values")]
    TooMany(&'static str, usize),
}

/// `, allowed_groups, …`: every rule parameter, for the unknown-parameter message.
struct Known;

impl fmt::Display for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        PARAMETERS.iter().try_for_each(|name| write!(f, ", {name}"))
    }
}

/// A comma-separated list as written in the query (still percent-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct List<'q>(pub(super) &'q str);

impl<'q> List<'q> {
    /// The items, decoded and trimmed; empty items are skipped (`a,,b`, a trailing comma).
    pub(super) fn items(self) -> impl Iterator<Item = Cow<'q, str>> {
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

impl<'q> RouteRules<'q> {
    /// Parses the query of a bare `/forward-auth` URL.
    pub(crate) fn parse(query: &'q str) -> Result<Self, RuleError> {
        let mut parsed = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key);
            if key == "mode" {
                if parsed.redirect {
                    return Err(RuleError::Repeated("mode"));
                }
                if decode(value) != "redirect" {
                    return Err(RuleError::Mode);
                }
                parsed.redirect = true;
                continue;
            }
            if key == "audience" {
                if parsed.audience.is_some() {
                    return Err(RuleError::Repeated("audience"));
                }
                let audience = decode(value);
                if audience.trim().is_empty() {
                    return Err(RuleError::Empty("audience"));
                }
                parsed.audience = Some(audience);
                continue;
            }
            let unknown = || RuleError::Unknown(key.chars().take(64).collect());
            let slot = PARAMETERS.iter().position(|name| *name == key).ok_or_else(unknown)?;
            if parsed.rules[slot].is_some() {
                return Err(RuleError::Repeated(PARAMETERS[slot]));
            }
            parsed.rules[slot] = Some(Rule::from_parameter(&key, value).ok_or_else(unknown)??);
        }
        Ok(parsed)
    }

    /// The rules given, in the order they are checked.
    pub(super) fn rules(&self) -> impl Iterator<Item = &Rule<'q>> {
        self.rules.iter().flatten()
    }

    /// Every rule given must hold, for `identity` authenticated as `authentication` says,
    /// at `now` (Unix seconds). Identity rules are checked first: a step-up refusal means
    /// every other rule passed.
    pub(crate) fn check(&self, identity: &Identity, authentication: &Authentication, now: u64) -> Result<(), Refusal> {
        self.rules()
            .try_for_each(|rule| rule.admits(identity, authentication, now, Scope::Route))
    }

    /// What the route's step-up rules ask for, to be asked of the provider at sign-in.
    pub(crate) fn step_up(&self) -> StepUp {
        let mut step_up = StepUp::default();
        for rule in self.rules() {
            match rule {
                Rule::MaxAge(max_age) => step_up.max_age = Some(*max_age),
                Rule::AcrValues(values) => step_up.acr_values = values.to_vec(),
                _ => {}
            }
        }
        step_up
    }
}
