//! The session store interface, apart from its Redis implementation.

use std::future::Future;
use std::time::Duration;

use super::{PendingLogin, RecordError, SessionKey, SessionRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the session store is unavailable")]
    Unavailable(#[source] redis::RedisError),
    #[error("the session store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the session store could not be reached")]
    Connect(#[source] deadpool_redis::PoolError),
    #[error("a stored session could not be read")]
    Corrupt(#[source] RecordError),
    #[error("a stored pending login could not be read")]
    CorruptLogin(#[source] serde_json::Error),
}

/// Where sessions, pending logins and their indexes live. Every method is bounded in
/// time: a store that does not answer yields [`StoreError`], never a hang.
pub trait SessionStore: Send + Sync + 'static {
    /// Writes a session; it expires after `idle`, and never after `record.expires_at`.
    fn save(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        idle: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rewrites an existing session (after a refresh); false when it has ended meanwhile,
    /// so a refresh can never bring a logged-out session back.
    fn update(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        idle: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes the session's refresh lock for `ttl` (it expires by itself, so a crashed
    /// holder cannot wedge the session); false when another holder has it.
    fn try_lock(
        &self,
        key: &SessionKey,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Releases the lock if `owner` still holds it.
    fn unlock(&self, key: &SessionKey, owner: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a live session and slides its idle timeout, in one round trip (a second one
    /// only in the session's last idle period, to keep its expiry at its absolute end).
    fn load(
        &self,
        key: &SessionKey,
        idle: Duration,
        now: u64,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Ends a session, returning what it held.
    fn remove(&self, key: &SessionKey) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Keys of sessions created with this provider `sid`.
    fn keys_by_sid(&self, sid: &str) -> impl Future<Output = Result<Vec<SessionKey>, StoreError>> + Send;

    /// Keys of sessions of this user.
    fn keys_by_sub(&self, sub: &str) -> impl Future<Output = Result<Vec<SessionKey>, StoreError>> + Send;

    /// Reads a session without touching it (for back-channel checks).
    fn peek(&self, key: &SessionKey) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// Records a logout token id; false when it was seen before (a replay).
    fn remember_jti(&self, id: &str, ttl: Duration) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn put_pending(
        &self,
        state: &str,
        login: &PendingLogin,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes a pending login out (single use): a second call finds nothing.
    fn take_pending(&self, state: &str) -> impl Future<Output = Result<Option<PendingLogin>, StoreError>> + Send;

    /// Sessions not yet past their absolute end, counted in buckets (an upper bound:
    /// idle-expired sessions count until their bucket ends, at most 10 minutes after their
    /// absolute end). For the metrics gauge, read at scrape time.
    fn count_sessions(&self, now: u64) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
