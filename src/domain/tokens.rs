//! The tokens a session holds.

use serde::{Deserialize, Serialize};

/// The tokens a session holds; never leaves the service except as an opt-in
/// `access_token` in introspection and forward-auth.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(***)")
    }
}
