//! The session store interface, in domain terms: no backend type appears here, so the
//! service and the encrypting layer above ([`super::Sessions`]) work with any backend —
//! Redis in production, [`super::memory::MemoryStore`] in the service's unit tests — and
//! one conformance suite (tests/api/store_conformance.rs) holds every backend to the
//! same behaviour.
//!
//! Records hold their tokens packed and sealed ([`super::StoredTokens`]): a backend
//! stores bytes it cannot read.

use std::time::Duration;

use async_trait::async_trait;

use super::{SessionKey, SessionRecord};

/// A backend's own error, kept whole as the cause.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the session store is unavailable")]
    Unavailable(#[source] Cause),
    /// Wrong credentials or a missing permission: a configuration error, not an outage.
    #[error("the session store refuses our credentials")]
    Refused(#[source] Cause),
    #[error("the session store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("a stored value could not be read")]
    Corrupt(#[source] Cause),
}

/// Where sessions, pending logins and their indexes live. Every method is bounded in
/// time: a store that does not answer yields [`StoreError`], never a hang.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Writes a session; it expires after `idle`, and never after `record.expires_at`.
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError>;

    /// Rewrites an existing session (after a refresh); false when it has ended meanwhile,
    /// so a refresh can never bring a logged-out session back.
    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError>;

    /// Takes the session's refresh lock for `ttl` (it expires by itself, so a crashed
    /// holder cannot wedge the session); false when another holder has it.
    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Releases the lock if `owner` still holds it.
    async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError>;

    /// Reads a live session and slides its idle timeout (never past its absolute end), in
    /// one round trip on the hot path.
    async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError>;

    /// Ends a session, returning what it held.
    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Keys of sessions created with this provider `sid`. A backend may also list sessions
    /// that ended by idle timeout since the user's last login (the Redis store drops those
    /// at the next login); callers read each session before acting on it.
    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError>;

    /// Keys of sessions of this user; the same caveat as [`SessionStore::keys_by_sid`].
    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError>;

    /// Reads a session without touching it (for back-channel checks and refresh).
    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Records a logout token id; false when it was seen before (a replay).
    async fn remember_jti(&self, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Forgets a logout token id, so that a logout which did not complete can be retried.
    async fn forget_jti(&self, id: &str) -> Result<(), StoreError>;

    /// Marks a login's `state` as completed for `ttl`; false when it was marked before
    /// (a second callback for the same login).
    async fn claim_login(&self, state: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Whether a login's `state` has been claimed (and not yet forgotten).
    async fn login_claimed(&self, state: &str) -> Result<bool, StoreError>;

    /// The value of a secret shared by every replica: `candidate` if none exists yet
    /// (the first caller's wins), else the existing one.
    async fn shared_key(&self, name: &str, candidate: &[u8; 32]) -> Result<Vec<u8>, StoreError>;

    /// Sessions not yet past their absolute end (an upper bound: idle-expired sessions may
    /// count until their absolute end's bucket passes). For the metrics gauge.
    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;
}
