//! Values that must never reach a log line or `Debug` output, redacted by their type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that must never reach a log line or `Debug` output: client secrets, PKCE
/// verifiers, nonces, authorization codes, cookie values, tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output_and_serializes_as_its_plain_value() {
        let secret = Secret::new("s3cr3t-value".into());
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", Some(&secret)).contains("s3cr3t"));
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"s3cr3t-value\"");
        let back: Secret = serde_json::from_str("\"s3cr3t-value\"").unwrap();
        assert_eq!(back.expose(), "s3cr3t-value");
    }
}
