//! A memory store that fails on cue, for what the service does when the store breaks
//! off in the middle of its work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::session::memory::MemoryStore;
use crate::session::store::Mark;
use crate::session::{SessionKey, SessionRecord, SessionStore, StoreError};

#[derive(Default)]
pub(super) struct FailingStore {
    inner: MemoryStore,
    /// Removals still to succeed before one fails; `usize::MAX`: none fails.
    removals_before_failure: AtomicUsize,
}

impl FailingStore {
    pub(super) fn new() -> Self {
        Self {
            inner: MemoryStore::new(),
            removals_before_failure: AtomicUsize::new(usize::MAX),
        }
    }

    /// After `n` more successful removals, the next one fails (once).
    pub(super) fn fail_removal_after(&self, n: usize) {
        self.removals_before_failure.store(n, Ordering::SeqCst);
    }
}

fn outage() -> StoreError {
    StoreError::Unavailable(Box::new(std::io::Error::other("scripted store outage")))
}

#[async_trait]
impl SessionStore for FailingStore {
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError> {
        self.inner.save(key, record, idle).await
    }

    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError> {
        self.inner.update(key, record, idle).await
    }

    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.try_lock(key, owner, ttl).await
    }

    async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        self.inner.unlock(key, owner).await
    }

    async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load(key, idle, now).await
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let left = self.removals_before_failure.load(Ordering::SeqCst);
        if left == 0 {
            self.removals_before_failure.store(usize::MAX, Ordering::SeqCst);
            return Err(outage());
        }
        if left != usize::MAX {
            self.removals_before_failure.store(left - 1, Ordering::SeqCst);
        }
        self.inner.remove(key).await
    }

    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.inner.keys_by_sid(sid).await
    }

    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.inner.keys_by_sub(sub).await
    }

    async fn peek_many(&self, keys: &[SessionKey]) -> Result<Vec<Option<(SessionRecord, u64)>>, StoreError> {
        self.inner.peek_many(keys).await
    }

    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.peek(key).await
    }

    async fn mark_once(&self, mark: Mark, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.mark_once(mark, id, ttl).await
    }

    async fn is_marked(&self, mark: Mark, id: &str) -> Result<bool, StoreError> {
        self.inner.is_marked(mark, id).await
    }

    async fn unmark(&self, mark: Mark, id: &str) -> Result<(), StoreError> {
        self.inner.unmark(mark, id).await
    }

    async fn shared_key(&self, name: &str, candidate: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        self.inner.shared_key(name, candidate).await
    }

    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError> {
        self.inner.count_sessions(now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
