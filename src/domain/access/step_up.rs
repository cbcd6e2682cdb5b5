//! Step-up: a sign-in asked to be recent (`max_age`) or of a given strength (`acr_values`),
//! as `GET /auth/login` takes it and as a route's step-up rules ask for it again.

use std::fmt::Write;

use crate::domain::Authentication;

/// At most this many `acr_values` in one request.
pub(crate) const MAX_ACR_VALUES: usize = 10;
/// The longest single `acr` value accepted.
const MAX_ACR_LEN: usize = 256;

/// What a sign-in must show: authenticated within `max_age` seconds, with one of `acr_values`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepUp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
}

/// Why `max_age` or `acr_values` of `GET /auth/login` was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepUpError {
    #[error("`max_age` must be a whole number of seconds")]
    MaxAgeNotANumber,
    #[error("`max_age` must be at most {0} seconds (the session's maximum lifetime)")]
    MaxAgeTooLarge(u64),
    #[error("`acr_values` is empty: give at least one value")]
    AcrValuesEmpty,
    #[error("`acr_values` lists more than {MAX_ACR_VALUES} values")]
    TooManyAcrValues,
    #[error("`acr_values` holds a value with characters other than printable ASCII (no `\"` or `\\`), or one longer than {MAX_ACR_LEN}")]
    AcrValueInvalid,
}

/// Why the callback refuses a sign-in that was asked to step up (403, the old session kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StepUpFailure {
    #[error("the provider did not say when you signed in (no `auth_time` in the ID token), but a recent sign-in was required")]
    NoAuthTime,
    #[error("the provider's sign-in is older than this page allows; please sign in again")]
    TooOld,
    #[error("the provider did not confirm the required kind of sign-in (`acr`)")]
    AcrNotSatisfied,
}

/// Whether `value` can be an `acr` value here: printable ASCII without space, `"` or `\`
/// (the characters of an OAuth scope token), so it fits unquoted lists and a quoted
/// `WWW-Authenticate` parameter alike.
pub(crate) fn is_acr_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ACR_LEN
        && value
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl StepUp {
    /// The query parameters of `GET /auth/login`; `max_lifetime` is the session's maximum
    /// lifetime in seconds. `acr_values` may be space- or comma-separated.
    pub fn parse(max_age: Option<&str>, acr_values: Option<&str>, max_lifetime: u64) -> Result<Self, StepUpError> {
        let max_age = match max_age {
            None => None,
            Some(raw) => {
                let raw = raw.trim();
                if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(StepUpError::MaxAgeNotANumber);
                }
                // All digits: only an overflow fails to parse, and that is too large too.
                match raw.parse::<u64>() {
                    Ok(n) if n <= max_lifetime => Some(n),
                    _ => return Err(StepUpError::MaxAgeTooLarge(max_lifetime)),
                }
            }
        };
        let acr_values = match acr_values {
            None => Vec::new(),
            Some(raw) => {
                let values: Vec<&str> = raw.split([' ', ',']).filter(|v| !v.is_empty()).collect();
                if values.is_empty() {
                    return Err(StepUpError::AcrValuesEmpty);
                }
                if values.len() > MAX_ACR_VALUES {
                    return Err(StepUpError::TooManyAcrValues);
                }
                if !values.iter().all(|v| is_acr_value(v)) {
                    return Err(StepUpError::AcrValueInvalid);
                }
                values.into_iter().map(str::to_owned).collect()
            }
        };
        Ok(Self { max_age, acr_values })
    }

    pub fn is_empty(&self) -> bool {
        self.max_age.is_none() && self.acr_values.is_empty()
    }

    /// The authorization request's parameters (OIDC Core §3.1.2.1): `acr_values` space-separated.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(max_age) = self.max_age {
            pairs.push(("max_age", max_age.to_string()));
        }
        if !self.acr_values.is_empty() {
            pairs.push(("acr_values", self.acr_values.join(" ")));
        }
        pairs
    }

    /// The callback's checks of the new ID token: with `max_age`, an `auth_time` no older
    /// than `max_age` + `skew` (OIDC Core §3.1.3.7 rule 11); with `acr_values`, an `acr`
    /// among them.
    pub fn verify(&self, authentication: &Authentication, now: u64, skew: u64) -> Result<(), StepUpFailure> {
        if let Some(max_age) = self.max_age {
            let auth_time = authentication.auth_time.ok_or(StepUpFailure::NoAuthTime)?;
            if now.saturating_sub(auth_time) > max_age.saturating_add(skew) {
                return Err(StepUpFailure::TooOld);
            }
        }
        if !self.acr_values.is_empty() {
            let acr = authentication.acr.as_deref();
            if !self.acr_values.iter().any(|v| Some(v.as_str()) == acr) {
                return Err(StepUpFailure::AcrNotSatisfied);
            }
        }
        Ok(())
    }

    /// The RFC 9470 challenge: `Bearer error="insufficient_user_authentication", …`.
    pub fn challenge(&self) -> String {
        let mut value = String::from(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"a more recent or stronger sign-in is required\"",
        );
        if let Some(max_age) = self.max_age {
            let _ = write!(value, ", max_age={max_age}");
        }
        if !self.acr_values.is_empty() {
            // Values are checked to hold no `"` or `\`: safe inside the quotes.
            let _ = write!(value, ", acr_values=\"{}\"", self.acr_values.join(" "));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: u64 = 7 * 86_400;

    #[test]
    fn max_age_must_be_a_whole_number_within_the_session_lifetime() {
        assert_eq!(StepUp::parse(Some("300"), None, WEEK).unwrap().max_age, Some(300));
        assert_eq!(StepUp::parse(Some("0"), None, WEEK).unwrap().max_age, Some(0));
        for bad in ["abc", "-5", "", "1.5", "+3", "3e2"] {
            assert_eq!(
                StepUp::parse(Some(bad), None, WEEK),
                Err(StepUpError::MaxAgeNotANumber),
                "{bad}"
            );
        }
        for huge in ["604801", "99999999999999999999999"] {
            assert_eq!(
                StepUp::parse(Some(huge), None, WEEK),
                Err(StepUpError::MaxAgeTooLarge(WEEK))
            );
        }
    }

    #[test]
    fn acr_values_are_one_to_ten_printable_tokens_separated_by_spaces_or_commas() {
        let parsed = StepUp::parse(None, Some("mfa urn:acr:gold,phr"), WEEK).unwrap();
        assert_eq!(parsed.acr_values, ["mfa", "urn:acr:gold", "phr"]);
        assert_eq!(parsed.parameters(), [("acr_values", "mfa urn:acr:gold phr".to_owned())]);
        assert_eq!(StepUp::parse(None, Some(""), WEEK), Err(StepUpError::AcrValuesEmpty));
        assert_eq!(StepUp::parse(None, Some(" , "), WEEK), Err(StepUpError::AcrValuesEmpty));
        let eleven = ["a"; 11].join(" ");
        assert_eq!(
            StepUp::parse(None, Some(&eleven), WEEK),
            Err(StepUpError::TooManyAcrValues)
        );
        for bad in ["mfa\u{7}", "a\"b", "a\\b", "ü", "a\tb", &"x".repeat(257)] {
            assert_eq!(
                StepUp::parse(None, Some(bad), WEEK),
                Err(StepUpError::AcrValueInvalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_callback_needs_a_recent_auth_time_within_the_skew_and_a_requested_acr() {
        let now = 1_800_000_000;
        let step_up = StepUp {
            max_age: Some(300),
            acr_values: vec!["mfa".into(), "hw".into()],
        };
        let signed_in = |ago: u64, acr: Option<&str>| Authentication {
            auth_time: Some(now - ago),
            acr: acr.map(str::to_owned),
            amr: Vec::new(),
        };
        assert_eq!(step_up.verify(&signed_in(360, Some("hw")), now, 60), Ok(()));
        assert_eq!(
            step_up.verify(&signed_in(361, Some("hw")), now, 60),
            Err(StepUpFailure::TooOld)
        );
        assert_eq!(
            step_up.verify(&signed_in(10, Some("pwd")), now, 60),
            Err(StepUpFailure::AcrNotSatisfied)
        );
        assert_eq!(
            step_up.verify(&signed_in(10, None), now, 60),
            Err(StepUpFailure::AcrNotSatisfied)
        );
        let no_time = Authentication {
            auth_time: None,
            ..signed_in(0, Some("mfa"))
        };
        assert_eq!(step_up.verify(&no_time, now, 60), Err(StepUpFailure::NoAuthTime));
        assert_eq!(StepUp::default().verify(&Authentication::default(), now, 0), Ok(()));
    }

    #[test]
    fn the_challenge_carries_max_age_and_acr_values_as_rfc_9470_says() {
        let step_up = StepUp {
            max_age: Some(60),
            acr_values: vec!["mfa".into(), "hw".into()],
        };
        let challenge = step_up.challenge();
        assert!(challenge.starts_with("Bearer error=\"insufficient_user_authentication\""));
        assert!(challenge.contains(", max_age=60"), "{challenge}");
        assert!(challenge.ends_with(", acr_values=\"mfa hw\""), "{challenge}");
    }
}
