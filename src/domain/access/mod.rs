//! Who may sign in and who may pass a route: one kind of [`Rule`], configured for sign-in
//! (`OIDC_ALLOWED_GROUPS`, `OIDC_REQUIRE_EMAIL_VERIFIED`) or written in the query of a
//! proxy's forward-auth URL for each route ([`RouteRules`]), and one [`Refusal`].
//!
//! It lives with the shared types because configuration builds the sign-in rules and the
//! service applies them.

mod query;
#[cfg(test)]
mod tests;

pub(crate) use query::{List, RouteRules, RuleError};

use super::Identity;

/// The forward-auth parameters that are rules, in the order a route's rules are checked.
/// Each names a [`Rule`] variant ([`Rule::name`]); `mode` is not a rule.
pub(crate) const PARAMETERS: [&str; 3] = ["allowed_groups", "allowed_emails", "allowed_email_domains"];

/// One access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule<'a> {
    /// The identity's groups include one of these, compared exactly.
    Groups(Values<'a>),
    /// The verified email is one of these, ignoring ASCII case.
    Emails(Values<'a>),
    /// The verified email is at one of these domains (exactly that domain, ignoring ASCII case).
    EmailDomains(Values<'a>),
    /// `email_verified` is true (sign-in only: the email rules imply it on routes).
    EmailVerified,
}

/// The list of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Values<'a> {
    /// As written in a forward-auth query, still percent-encoded: borrowed from the query,
    /// each item decoded only when compared.
    Query(List<'a>),
    /// As configured.
    Listed(Vec<String>),
}

/// Where rules apply; refusals are worded for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    SignIn,
    Route,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SignIn => "to sign in",
            Self::Route => "here",
        })
    }
}

/// Why a rule refuses an identity; the text is shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("your account is not in a group allowed {0}")]
    GroupNotAllowed(Scope),
    #[error("your email address is not verified")]
    EmailNotVerified,
    #[error("your email address is not allowed {0}")]
    EmailNotAllowed(Scope),
    #[error("your email domain is not allowed {0}")]
    DomainNotAllowed(Scope),
}

impl Refusal {
    /// A short, stable label for metrics and logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::GroupNotAllowed(_) => "group_not_allowed",
            Self::EmailNotVerified => "email_not_verified",
            Self::EmailNotAllowed(_) => "email_not_allowed",
            Self::DomainNotAllowed(_) => "email_domain_not_allowed",
        }
    }
}

impl<'a> Rule<'a> {
    /// The rule a forward-auth parameter gives, checked; `None` when `name` is no rule's.
    pub(crate) fn from_parameter(name: &str, value: &'a str) -> Option<Result<Self, RuleError>> {
        let values = Values::Query(List(value));
        let rule = match name {
            "allowed_groups" => Self::Groups(values),
            "allowed_emails" => Self::Emails(values),
            "allowed_email_domains" => Self::EmailDomains(values),
            _ => return None,
        };
        Some(rule.validate().map(|()| rule))
    }

    /// Its forward-auth parameter; for a rule only configured, what it checks.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Groups(_) => "allowed_groups",
            Self::Emails(_) => "allowed_emails",
            Self::EmailDomains(_) => "allowed_email_domains",
            Self::EmailVerified => "email_verified",
        }
    }

    /// A list must have an item, and each item must be one the rule can match.
    fn validate(&self) -> Result<(), RuleError> {
        let values = match self {
            Self::Groups(values) | Self::Emails(values) | Self::EmailDomains(values) => values,
            Self::EmailVerified => return Ok(()),
        };
        if !values.any(|_| true) {
            return Err(RuleError::Empty(self.name()));
        }
        let mut invalid = None;
        values.any(|item| {
            invalid = self.invalid_item(item);
            invalid.is_some()
        });
        invalid.map_or(Ok(()), Err)
    }

    /// What is wrong with a list item that this rule could never match.
    fn invalid_item(&self, item: &str) -> Option<RuleError> {
        match self {
            Self::Emails(_) if item.matches('@').count() != 1 || item.starts_with('@') || item.ends_with('@') => {
                Some(RuleError::NotAnEmail(item.to_owned()))
            }
            Self::EmailDomains(_) if item.contains('@') => Some(RuleError::NotADomain(item.to_owned())),
            _ => None,
        }
    }

    /// Whether `identity` passes this rule, worded for `scope` when it does not.
    pub(crate) fn admits(&self, identity: &Identity, scope: Scope) -> Result<(), Refusal> {
        let passes = match self {
            Self::Groups(allowed) => allowed.any(|a| identity.groups.iter().any(|g| g == a)),
            Self::Emails(allowed) => {
                let email = verified_email(identity)?;
                allowed.any(|a| a.eq_ignore_ascii_case(email))
            }
            Self::EmailDomains(allowed) => {
                let email = verified_email(identity)?;
                let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
                !domain.is_empty() && allowed.any(|a| a.eq_ignore_ascii_case(domain))
            }
            Self::EmailVerified => identity.email_verified == Some(true),
        };
        if passes {
            return Ok(());
        }
        Err(match self {
            Self::Groups(_) => Refusal::GroupNotAllowed(scope),
            Self::Emails(_) => Refusal::EmailNotAllowed(scope),
            Self::EmailDomains(_) => Refusal::DomainNotAllowed(scope),
            Self::EmailVerified => Refusal::EmailNotVerified,
        })
    }
}

/// The email, when the provider says it is verified.
fn verified_email(identity: &Identity) -> Result<&str, Refusal> {
    match (&identity.email, identity.email_verified) {
        (Some(email), Some(true)) => Ok(email),
        _ => Err(Refusal::EmailNotVerified),
    }
}

impl Values<'_> {
    /// Whether an item satisfies `f`; query items are decoded one at a time, not collected.
    fn any(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Self::Query(list) => list.items().any(|item| f(&item)),
            Self::Listed(items) => items.iter().any(|item| f(item)),
        }
    }
}

/// The sign-in rules: every one must hold at login, and again whenever a refresh brings
/// new claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInRules(Vec<Rule<'static>>);

impl SignInRules {
    pub(crate) fn new(rules: Vec<Rule<'static>>) -> Self {
        Self(rules)
    }

    pub(crate) fn admits(&self, identity: &Identity) -> Result<(), Refusal> {
        self.0.iter().try_for_each(|rule| rule.admits(identity, Scope::SignIn))
    }
}
