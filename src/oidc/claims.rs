//! Mapping provider claims to the identity the service hands out.

use serde_json::{Map, Value};

pub(crate) use crate::domain::{ClaimPath, Identity};

/// A configured claim path that found nothing usable in a sign-in's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnmatchedClaim {
    pub(crate) variable: &'static str,
    pub(crate) path: String,
    /// Where the path stopped: "the claims", or the `$.a` object it reached.
    pub(crate) at: String,
    /// The claim names found there — names only, never values.
    pub(crate) names: Vec<String>,
}

/// At most this many names per warning: enough to spot the right one.
const MAX_NAMES: usize = 40;

/// Which claims become username, email and groups.
#[derive(Debug, Clone)]
pub(crate) struct ClaimMapping {
    pub(crate) username: ClaimPath,
    pub(crate) email: ClaimPath,
    pub(crate) groups: ClaimPath,
}

impl ClaimMapping {
    pub(crate) fn identity(&self, sub: &str, claims: &Map<String, Value>) -> Identity {
        let string = |path: &ClaimPath| path.get(claims).and_then(Value::as_str).map(str::to_owned);
        let groups = match self.groups.get(claims) {
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Identity {
            sub: sub.to_owned(),
            username: string(&self.username),
            email: string(&self.email),
            // The flag that belongs to the email claim, if any; some providers send "true"
            // as a string.
            email_verified: match self.email.verified_flag().and_then(|flag| flag.get(claims)) {
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => Some(s == "true"),
                _ => None,
            },
            name: claims.get("name").and_then(Value::as_str).map(str::to_owned),
            groups,
        }
    }

    /// The claim paths (`OIDC_USERNAME_CLAIM`, `OIDC_EMAIL_CLAIM`, `OIDC_GROUPS_CLAIM`) that
    /// find nothing usable in `claims`: a missing value, or one of the wrong type. An empty
    /// group list is a value.
    pub(crate) fn unmatched(&self, claims: &Map<String, Value>) -> Vec<UnmatchedClaim> {
        let string = |v: Option<&Value>| matches!(v, Some(Value::String(_)));
        let groups = |v: Option<&Value>| matches!(v, Some(Value::String(_) | Value::Array(_)));
        [
            ("OIDC_USERNAME_CLAIM", &self.username, string(self.username.get(claims))),
            ("OIDC_EMAIL_CLAIM", &self.email, string(self.email.get(claims))),
            ("OIDC_GROUPS_CLAIM", &self.groups, groups(self.groups.get(claims))),
        ]
        .into_iter()
        .filter(|(_, _, found)| !found)
        .map(|(variable, path, _)| {
            let (at, object) = path.reached(claims);
            let mut names: Vec<String> = object
                .keys()
                .take(MAX_NAMES)
                .map(|k| k.chars().filter(|c| !c.is_control()).collect())
                .collect();
            names.sort();
            UnmatchedClaim {
                variable,
                path: path.to_string(),
                at,
                names,
            }
        })
        .collect()
    }

    /// Logs each unmatched path as a warning: at sign-in, the moment an operator can see
    /// which claim names the provider really sends.
    pub(crate) fn warn_unmatched(&self, claims: &Map<String, Value>) {
        for u in self.unmatched(claims) {
            tracing::warn!(
                variable = u.variable,
                path = %u.path,
                claims_sent = %u.names.join(", "),
                "{} `{}` finds nothing in this sign-in's claims; {} hold: {}",
                u.variable,
                u.path,
                u.at,
                u.names.join(", ")
            );
        }
    }
}

/// Claims that describe the token rather than the user; not handed to backends.
const TOKEN_CLAIMS: &[&str] = &["nonce", "at_hash", "c_hash", "s_hash", "exp", "iat", "nbf", "jti"];

/// The user's claims: the ID token's, overlaid with userinfo's (which is fresher).
pub(crate) fn merge_claims(id_token: Map<String, Value>, userinfo: Option<Map<String, Value>>) -> Map<String, Value> {
    let mut claims: Map<String, Value> = id_token
        .into_iter()
        .filter(|(k, _)| !TOKEN_CLAIMS.contains(&k.as_str()))
        .collect();
    if let Some(userinfo) = userinfo {
        claims.extend(userinfo);
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_path_reads_nested_claims_and_a_dotted_name_reads_a_flat_one() {
        let c = claims(json!({"realm_access": {"username": "ann"}, "https://x.example/groups": ["a"]}));
        assert_eq!(
            ClaimPath::parse("$.realm_access.username").unwrap().get(&c),
            Some(&json!("ann"))
        );
        assert_eq!(
            ClaimPath::parse("https://x.example/groups").unwrap().get(&c),
            Some(&json!(["a"]))
        );
        assert_eq!(ClaimPath::parse("$.realm_access.missing").unwrap().get(&c), None);
    }

    #[test]
    fn groups_may_be_a_string_or_an_array_of_strings() {
        let mapping = ClaimMapping {
            username: ClaimPath::parse("preferred_username").unwrap(),
            email: ClaimPath::parse("email").unwrap(),
            groups: ClaimPath::parse("groups").unwrap(),
        };
        assert_eq!(
            mapping.identity("s", &claims(json!({"groups": "admins"}))).groups,
            vec!["admins"]
        );
        assert_eq!(
            mapping.identity("s", &claims(json!({"groups": ["a", 1, "b"]}))).groups,
            vec!["a", "b"]
        );
        assert!(mapping
            .identity("s", &claims(json!({"groups": {"x": 1}})))
            .groups
            .is_empty());
    }

    fn default_mapping() -> ClaimMapping {
        ClaimMapping {
            username: ClaimPath::parse("preferred_username").unwrap(),
            email: ClaimPath::parse("email").unwrap(),
            groups: ClaimPath::parse("groups").unwrap(),
        }
    }

    #[test]
    fn paths_that_find_a_usable_value_are_not_reported() {
        let c = claims(json!({"preferred_username": "ann", "email": "a@x", "groups": []}));
        assert!(default_mapping().unmatched(&c).is_empty());
    }

    #[test]
    fn a_path_that_finds_nothing_names_its_variable_and_the_claim_names_sent_but_no_values() {
        let c = claims(json!({"sub": "s", "name": "Ann Secretvalue", "mail": "ann@x.example", "groups": ["a"]}));
        let unmatched = default_mapping().unmatched(&c);
        let names: Vec<&str> = unmatched.iter().map(|u| u.variable).collect();
        assert_eq!(names, ["OIDC_USERNAME_CLAIM", "OIDC_EMAIL_CLAIM"]);
        let email = &unmatched[1];
        assert_eq!(email.path, "email");
        assert_eq!(email.at, "the claims");
        assert_eq!(email.names, ["groups", "mail", "name", "sub"]);
        let text = format!("{unmatched:?}");
        assert!(
            !text.contains("Secretvalue") && !text.contains("ann@x.example"),
            "{text}"
        );
    }

    #[test]
    fn a_nested_path_reports_the_names_where_it_stopped() {
        let mapping = ClaimMapping {
            groups: ClaimPath::parse("$.realm_access.groups").unwrap(),
            ..default_mapping()
        };
        let c = claims(json!({"preferred_username": "ann", "email": "a@x", "realm_access": {"roles": ["r"]}}));
        let unmatched = mapping.unmatched(&c);
        assert_eq!(unmatched.len(), 1);
        assert_eq!(unmatched[0].variable, "OIDC_GROUPS_CLAIM");
        assert_eq!(unmatched[0].path, "$.realm_access.groups");
        assert_eq!(unmatched[0].at, "`$.realm_access`");
        assert_eq!(unmatched[0].names, ["roles"]);
    }

    #[test]
    fn a_value_of_the_wrong_type_counts_as_nothing() {
        let c = claims(json!({"preferred_username": 7, "email": "a@x", "groups": {"a": 1}}));
        let names: Vec<&str> = default_mapping().unmatched(&c).iter().map(|u| u.variable).collect();
        assert_eq!(names, ["OIDC_USERNAME_CLAIM", "OIDC_GROUPS_CLAIM"]);
    }

    #[test]
    fn the_verified_flag_is_the_one_beside_the_email_claim_and_a_custom_claim_has_none() {
        let mut mapping = default_mapping();
        let sent = claims(json!({
            "upn": "ann@corp.example", "email": "ann@gmail.example", "email_verified": true,
            "profile": {"email": "ann@corp.example", "email_verified": false},
        }));
        assert_eq!(mapping.identity("ann", &sent).email_verified, Some(true));
        mapping.email = ClaimPath::parse("upn").unwrap();
        let identity = mapping.identity("ann", &sent);
        assert_eq!(identity.email.as_deref(), Some("ann@corp.example"));
        assert_eq!(
            identity.email_verified, None,
            "the top-level flag belongs to `email`, not `upn`"
        );
        mapping.email = ClaimPath::parse("$.profile.email").unwrap();
        assert_eq!(mapping.identity("ann", &sent).email_verified, Some(false));
    }

    #[test]
    fn bad_claim_paths_are_refused() {
        for bad in ["", "$", "$.", "$.a..b", "$x"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad}");
        }
    }
}
