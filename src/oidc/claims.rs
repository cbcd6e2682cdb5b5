//! Mapping provider claims to the identity the service hands out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a claim lives: a plain name (which may contain dots, like Auth0's
/// `https://example.com/groups`) or a `$.a.b` path into nested objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPath {
    Name(String),
    Path(Vec<String>),
}

impl ClaimPath {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if let Some(path) = value.strip_prefix("$.") {
            let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
            if parts.iter().any(String::is_empty) {
                return Err(format!("`{value}` has an empty path segment"));
            }
            return Ok(Self::Path(parts));
        }
        if value.is_empty() || value.starts_with('$') {
            return Err(format!("`{value}` is not a claim name or a $.a.b path"));
        }
        Ok(Self::Name(value.to_owned()))
    }

    /// The deepest object this path reaches in `claims`, and how to name it: where a path
    /// that finds nothing stopped.
    fn reached<'a>(&self, claims: &'a Map<String, Value>) -> (String, &'a Map<String, Value>) {
        let Self::Path(parts) = self else {
            return ("the claims".to_owned(), claims);
        };
        let mut at = (String::from("the claims"), claims);
        let mut walked = String::from("$");
        for part in &parts[..parts.len().saturating_sub(1)] {
            match at.1.get(part).and_then(Value::as_object) {
                Some(object) => {
                    walked.push('.');
                    walked.push_str(part);
                    at = (format!("`{walked}`"), object);
                }
                None => break,
            }
        }
        at
    }

    pub fn get<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        match self {
            Self::Name(name) => claims.get(name),
            Self::Path(parts) => {
                let (first, rest) = parts.split_first()?;
                rest.iter()
                    .try_fold(claims.get(first)?, |v, part| v.as_object()?.get(part))
            }
        }
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Path(parts) => write!(f, "$.{}", parts.join(".")),
        }
    }
}

/// A configured claim path that found nothing usable in a sign-in's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedClaim {
    pub variable: &'static str,
    pub path: String,
    /// Where the path stopped: "the claims", or the `$.a` object it reached.
    pub at: String,
    /// The claim names found there — names only, never values.
    pub names: Vec<String>,
}

/// At most this many names per warning: enough to spot the right one.
const MAX_NAMES: usize = 40;

/// The user as backends and the frontend see them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub sub: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// Which claims become username, email and groups.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    pub username: ClaimPath,
    pub email: ClaimPath,
    pub groups: ClaimPath,
}

impl ClaimMapping {
    pub fn identity(&self, sub: &str, claims: &Map<String, Value>) -> Identity {
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
            // Some providers send "true" as a string.
            email_verified: match claims.get("email_verified") {
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
    pub fn unmatched(&self, claims: &Map<String, Value>) -> Vec<UnmatchedClaim> {
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
    pub fn warn_unmatched(&self, claims: &Map<String, Value>) {
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
pub fn merge_claims(id_token: Map<String, Value>, userinfo: Option<Map<String, Value>>) -> Map<String, Value> {
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
    fn bad_claim_paths_are_refused() {
        for bad in ["", "$", "$.", "$.a..b", "$x"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad}");
        }
    }
}
