//! Who the user is: the identity handed to backends, their claims, and where claims live.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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
    pub(crate) fn reached<'a>(&self, claims: &'a Map<String, Value>) -> (String, &'a Map<String, Value>) {
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

    /// Where the verification flag of the email this path finds lives: `email_verified`
    /// beside an `email` claim (OIDC Core §5.1), top-level or nested. Any other claim (a
    /// `upn`, say) has none: another claim's flag says nothing about it.
    pub fn verified_flag(&self) -> Option<Self> {
        match self {
            Self::Name(name) if name == "email" => Some(Self::Name("email_verified".to_owned())),
            Self::Path(parts) if parts.last().is_some_and(|p| p == "email") => {
                let mut flag = parts.clone();
                *flag.last_mut().expect("not empty") = "email_verified".to_owned();
                Some(Self::Path(flag))
            }
            _ => None,
        }
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

/// The user's claims as JSON text, kept as written: the hot path hands them to backends
/// without parsing them into a tree and serializing that again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Claims(Box<RawValue>);

impl Claims {
    pub fn new(claims: &Map<String, Value>) -> Self {
        Self(serde_json::value::to_raw_value(claims).expect("a JSON map serializes"))
    }

    /// The claims as a JSON tree (at refresh and for the OpenAPI layer; not the hot path).
    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }

    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }
}

impl Default for Claims {
    fn default() -> Self {
        Self::new(&Map::new())
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}
