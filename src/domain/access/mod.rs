//! Who may sign in and who may pass a route: one kind of [`Rule`], configured for sign-in
//! (`OIDC_ALLOWED_GROUPS`, `OIDC_REQUIRE_EMAIL_VERIFIED`) or written in the query of a
//! proxy's forward-auth URL for each route ([`RouteRules`]), and one [`Refusal`].
//!
//! It lives with the shared types because configuration builds the sign-in rules and the
//! service applies them.

mod query;
mod step_up;
#[cfg(test)]
mod tests;

pub(crate) use query::{List, RouteRules, RuleError};
pub use step_up::{StepUp, StepUpError, StepUpFailure};

use super::{Authentication, Identity};

/// The forward-auth parameters that are rules, in the order a route's rules are checked.
/// Each names a [`Rule`] variant ([`Rule::name`]); `mode` is not a rule. The step-up rules
/// come last, so a session they refuse has passed every other rule.
pub(crate) const PARAMETERS: [&str; 5] = [
    "allowed_groups",
    "allowed_emails",
    "allowed_email_domains",
    "max_age",
    "acr_values",
];

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
    /// Step-up: the user authenticated at the provider at most this many seconds ago (the
    /// ID token's `auth_time`; a session without one fails).
    MaxAge(u64),
    /// Step-up: the session's `acr` is one of these, compared exactly.
    AcrValues(Values<'a>),
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
    #[error("this page needs a more recent sign-in")]
    SignInTooOld,
    #[error("this page needs a stronger sign-in")]
    AcrNotAllowed,
}

impl Refusal {
    /// A short, stable label for metrics and logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::GroupNotAllowed(_) => "group_not_allowed",
            Self::EmailNotVerified => "email_not_verified",
            Self::EmailNotAllowed(_) => "email_not_allowed",
            Self::DomainNotAllowed(_) => "email_domain_not_allowed",
            Self::SignInTooOld => "max_age",
            Self::AcrNotAllowed => "acr_values",
        }
    }

    /// A step-up rule's refusal: the user may pass after signing in again.
    pub(crate) fn is_step_up(self) -> bool {
        matches!(self, Self::SignInTooOld | Self::AcrNotAllowed)
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
            "max_age" => {
                // Whole seconds, as OIDC's `max_age`; at most about 136 years.
                let seconds = value
                    .parse::<u32>()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
                return Some(match seconds {
                    Some(n) => Ok(Self::MaxAge(n.into())),
                    None => Err(RuleError::NotSeconds(value.chars().take(64).collect())),
                });
            }
            "acr_values" => Self::AcrValues(values),
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
            Self::MaxAge(_) => "max_age",
            Self::AcrValues(_) => "acr_values",
        }
    }

    /// A list must have an item, and each item must be one the rule can match.
    fn validate(&self) -> Result<(), RuleError> {
        let values = match self {
            Self::Groups(values) | Self::Emails(values) | Self::EmailDomains(values) | Self::AcrValues(values) => {
                values
            }
            Self::EmailVerified | Self::MaxAge(_) => return Ok(()),
        };
        if !values.any(|_| true) {
            return Err(RuleError::Empty(self.name()));
        }
        if let Self::AcrValues(_) = self {
            // A step-up sends them on to `GET /auth/login`, which takes at most this many.
            let mut count = 0;
            values.any(|_| {
                count += 1;
                false
            });
            if count > step_up::MAX_ACR_VALUES {
                return Err(RuleError::TooMany("acr_values", step_up::MAX_ACR_VALUES));
            }
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
            Self::AcrValues(_) if !step_up::is_acr_value(item) => Some(RuleError::NotAnAcr(
                item.chars().filter(|c| !c.is_control()).take(64).collect(),
            )),
            _ => None,
        }
    }

    /// Whether `identity`, authenticated as `authentication` says, passes this rule at `now`
    /// (Unix seconds), worded for `scope` when it does not.
    pub(crate) fn admits(
        &self,
        identity: &Identity,
        authentication: &Authentication,
        now: u64,
        scope: Scope,
    ) -> Result<(), Refusal> {
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
            Self::MaxAge(max_age) => authentication
                .auth_time
                .is_some_and(|at| now.saturating_sub(at) <= *max_age),
            Self::AcrValues(allowed) => authentication
                .acr
                .as_deref()
                .is_some_and(|acr| allowed.any(|a| a == acr)),
        };
        if passes {
            return Ok(());
        }
        Err(match self {
            Self::Groups(_) => Refusal::GroupNotAllowed(scope),
            Self::Emails(_) => Refusal::EmailNotAllowed(scope),
            Self::EmailDomains(_) => Refusal::DomainNotAllowed(scope),
            Self::EmailVerified => Refusal::EmailNotVerified,
            Self::MaxAge(_) => Refusal::SignInTooOld,
            Self::AcrValues(_) => Refusal::AcrNotAllowed,
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
    /// The items, decoded.
    pub(crate) fn to_vec(&self) -> Vec<String> {
        match self {
            Self::Query(list) => list.items().map(|item| item.into_owned()).collect(),
            Self::Listed(items) => items.clone(),
        }
    }

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
        // Sign-in rules never include a step-up rule: no authentication to judge.
        let none = Authentication::default();
        self.0
            .iter()
            .try_for_each(|rule| rule.admits(identity, &none, 0, Scope::SignIn))
    }
}
