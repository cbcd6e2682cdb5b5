//! Types every layer shares — the user's identity and claims, the access rules, the tokens
//! a session holds, the clock — so that configuration, protocol and storage depend on this module rather
//! than on each other.

pub(crate) mod access;
mod authentication;
mod identity;
mod secret;
mod tokens;

pub use access::SignInRules;
pub use authentication::Authentication;
pub use identity::{ClaimPath, Claims, Identity};
pub use secret::Secret;
pub use tokens::Tokens;

/// Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix milliseconds.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
