//! The session store interface, in domain terms: no backend type appears here, so the
//! service and the encrypting layer above ([`super::Sessions`]) work with any backend —
//! Redis in production, [`super::memory::MemoryStore`] in the service's unit tests — and
//! one conformance suite (tests/api/store_conformance.rs) holds every backend to the
//! same behaviour: the doc comments below, each checked in a sentence.
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
    /// The store presents a TLS certificate we do not trust: a configuration error.
    #[error("the session store presents a TLS certificate that is not trusted")]
    UntrustedCertificate(#[source] Cause),
}

/// What a mark stands for: each kind has a key space of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// A logout token's `iss` and `jti`, seen (the replay guard of back-channel logout).
    LogoutToken,
    /// A login's `state`, completed (single use).
    Login,
    /// A session key whose revalidation failed for a transient reason: not tried again
    /// until the mark expires.
    RevalidationBackoff,
}

/// Where sessions, their locks, single-use marks and shared keys live. Every method is
/// bounded in time: a store that does not answer yields [`StoreError`], never a hang.
///
/// A new backend implements this trait in one file and adds one line to the conformance
/// tests (`tests/api/store_conformance.rs`), which hold it to these doc comments.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    // --- sessions -----------------------------------------------------------------------

    /// Writes a session; it expires after `idle`, and never after `record.expires_at`.
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError>;

    /// Rewrites an existing session (after a refresh); false when it has ended meanwhile,
    /// so a refresh can never bring a logged-out session back.
    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError>;

    /// Reads a live session and slides its idle timeout (never past its absolute end), in
    /// one round trip on the hot path. A store may slide it only once per interval (Redis:
    /// once a minute, README), so that reads are not writes.
    async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError>;

    /// Reads a session without touching it (for back-channel checks and refresh).
    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Reads several sessions without touching them, each with when it expires (Unix
    /// seconds): `None` for one that has ended. Sent together (one pipelined round trip on
    /// Redis), not one after another.
    async fn peek_many(&self, keys: &[SessionKey]) -> Result<Vec<Option<(SessionRecord, u64)>>, StoreError>;

    /// Ends a session, returning what it held.
    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError>;

    /// Keys of sessions created with this provider `sid`. A backend may also list sessions
    /// that ended by idle timeout since the user's last login (the Redis store drops those
    /// at the next login); callers read each session before acting on it.
    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError>;

    /// Keys of the live sessions of this user, oldest first (by absolute end, then key);
    /// ended ones are dropped from the index on the way. Bounded work: a user holds at most
    /// `OIDC_MAX_SESSIONS_PER_USER` live sessions.
    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError>;

    /// Sessions not yet past their absolute end (an upper bound: idle-expired sessions may
    /// count until their absolute end's bucket passes). For the metrics gauge.
    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError>;

    // --- locks --------------------------------------------------------------------------

    /// Takes the session's refresh lock for `ttl` (it expires by itself, so a crashed
    /// holder cannot wedge the session); false when another holder has it.
    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Releases the lock if `owner` still holds it.
    async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError>;

    // --- single-use marks ---------------------------------------------------------------

    /// Marks `id` for `ttl`; false when it was marked already (a replay, a second use).
    async fn mark_once(&self, mark: Mark, id: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Whether `id` is marked (and the mark has not expired or been removed).
    async fn is_marked(&self, mark: Mark, id: &str) -> Result<bool, StoreError>;

    /// Removes a mark, so that an action which did not complete can be retried.
    async fn unmark(&self, mark: Mark, id: &str) -> Result<(), StoreError>;

    // --- shared keys and health ---------------------------------------------------------

    /// The value of a secret shared by every replica: `candidate` if none exists yet
    /// (the first caller's wins), else the existing one.
    async fn shared_key(&self, name: &str, candidate: &[u8; 32]) -> Result<Vec<u8>, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;
}
