//! The store's key names, all built here. The layout (`P` = `OIDC_REDIS_KEY_PREFIX`; `{…}` is
//! a Cluster hash tag; `K`, `S`, `H` are base64url SHA-256, 43 characters):
//! - `P session:{K}`  string: the record as [`SessionRecord::encode`](crate::session::SessionRecord::encode) lays it out;
//!   TTL = idle timeout, never past the absolute end. Read with `GET` + `PTTL`, ended with `GETDEL`.
//! - `P session:{K}:lock`  refresh lock (owner token), expires by itself
//! - `P session:{K}:retry`  revalidation back-off after a failed check, expires by itself
//! - `P login:{S}`    a completed login's `state` (single use), TTL = login timeout
//! - `P login-key`    the key that seals pending logins when no OIDC_SESSION_ENCRYPTION_KEY
//!   is set: 32 random bytes, created by the first replica that needs it
//! - `P sid:{H}` / `P sub:{H}`  hashes, session key → absolute end, for back-channel logout
//!   (small hashes are compact listpacks; before Redis 7.2 small sets of strings are not)
//! - `P jti:{H}`      seen logout-token ids
//! - `P session-ends` hash, absolute end rounded up to 10 minutes → sessions ending then
//!   (the active-sessions gauge; no per-session entry)

use super::super::store::Mark;
use super::super::SessionKey;
use crate::util::sha256_base64url;

pub(super) struct KeyNames {
    prefix: String,
}

impl KeyNames {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(super) fn session(&self, key: &SessionKey) -> String {
        // Once per request on the hot path: one allocation of the right size, no formatting.
        let mut name = String::with_capacity(self.prefix.len() + "session:{}".len() + key.0.len());
        name.push_str(&self.prefix);
        name.push_str("session:{");
        name.push_str(&key.0);
        name.push('}');
        name
    }

    /// Same hash tag as the session: both live in one Cluster slot.
    pub(super) fn lock(&self, key: &SessionKey) -> String {
        format!("{}session:{{{}}}:lock", self.prefix, key.0)
    }

    /// Session counts by gauge bucket, for the active-sessions gauge.
    pub(super) fn counter(&self) -> String {
        format!("{}session-ends", self.prefix)
    }

    /// `P login:{S}` for logins, `P jti:{H}` for logout tokens.
    pub(super) fn mark(&self, mark: Mark, id: &str) -> String {
        match mark {
            Mark::Login => format!("{}login:{{{}}}", self.prefix, sha256_base64url(id.as_bytes())),
            Mark::LogoutToken => self.index("jti", id),
            // Beside the session (same hash tag), like its lock.
            Mark::RevalidationBackoff => format!("{}session:{{{id}}}:retry", self.prefix),
        }
    }

    /// `P sid:{H}`, `P sub:{H}`, `P jti:{H}`: the value hashed, so that any value makes a
    /// key of fixed length.
    pub(super) fn index(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{{{}}}", self.prefix, sha256_base64url(value.as_bytes()))
    }

    /// A key of its own name under the prefix (`P login-key`).
    pub(super) fn named(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}
