//! Mapping provider claims to the identity the service hands out.

use serde_json::{Map, Value};

pub(crate) use crate::domain::{ClaimPath, Identity};

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

    #[test]
    fn bad_claim_paths_are_refused() {
        for bad in ["", "$", "$.", "$.a..b", "$x"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad}");
        }
    }
}
