//! How and when the user authenticated at the provider, as the ID token says (`auth_time`,
//! `acr`, `amr`): what the step-up rules (`max_age`, `acr_values`) judge a session by.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The ID token's authentication claims; each absent when the provider did not send it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// `auth_time`: when the user last authenticated (Unix seconds).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// `acr`: the authentication context class the provider says it satisfied.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// `amr`: the authentication methods used.
    #[serde(rename = "m", default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl Authentication {
    /// Read from an ID token's claims; a claim of the wrong type counts as absent.
    pub fn from_claims(claims: &Map<String, Value>) -> Self {
        let auth_time = claims.get("auth_time").and_then(|v| match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            _ => None,
        });
        let acr = claims.get("acr").and_then(Value::as_str).map(str::to_owned);
        let amr = match claims.get("amr") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Self { auth_time, acr, amr }
    }

    pub fn is_empty(&self) -> bool {
        self.auth_time.is_none() && self.acr.is_none() && self.amr.is_empty()
    }

    /// This authentication updated by a later ID token (a refresh's): each claim the new
    /// token carries replaces the old one; one it leaves out is kept.
    pub fn updated_by(self, newer: Self) -> Self {
        Self {
            auth_time: newer.auth_time.or(self.auth_time),
            acr: newer.acr.or(self.acr),
            amr: if newer.amr.is_empty() { self.amr } else { newer.amr },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_claims_are_read_and_wrong_types_count_as_absent() {
        let claims = json!({"auth_time": 1_800_000_000, "acr": "mfa", "amr": ["pwd", "otp", 3]});
        let read = Authentication::from_claims(claims.as_object().unwrap());
        assert_eq!(read.auth_time, Some(1_800_000_000));
        assert_eq!(read.acr.as_deref(), Some("mfa"));
        assert_eq!(read.amr, ["pwd", "otp"]);
        let wrong = json!({"auth_time": "yesterday", "acr": 2, "amr": "pwd"});
        assert!(Authentication::from_claims(wrong.as_object().unwrap()).is_empty());
        let negative = json!({"auth_time": -5});
        assert_eq!(
            Authentication::from_claims(negative.as_object().unwrap()).auth_time,
            None
        );
    }

    #[test]
    fn a_refreshed_token_replaces_what_it_carries_and_keeps_the_rest() {
        let login = Authentication {
            auth_time: Some(100),
            acr: Some("mfa".into()),
            amr: vec!["otp".into()],
        };
        let refreshed = Authentication {
            auth_time: Some(200),
            ..Authentication::default()
        };
        let merged = login.clone().updated_by(refreshed);
        assert_eq!(merged.auth_time, Some(200));
        assert_eq!(merged.acr, login.acr);
        assert_eq!(merged.amr, login.amr);
    }
}
