//! The store with a CLIENT span around each operation of the sign-in, refresh and logout
//! paths. Reads of the hot path (`load`, `is_marked`) and the background ones pass straight
//! through. Only used when traces are exported: with tracing off the store is the bare one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument as _;

use super::store::{Mark, SessionStore, StoreError};
use super::{SessionKey, SessionRecord};
use crate::telemetry::trace::redis_span;

pub(super) struct TracedStore(pub(super) Arc<dyn SessionStore>);

#[async_trait]
impl SessionStore for TracedStore {
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError> {
        self.0.save(key, record, idle).instrument(redis_span("save")).await
    }

    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError> {
        self.0.update(key, record, idle).instrument(redis_span("update")).await
    }

    async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        self.0.load(key, idle, now).await
    }

    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.0.peek(key).instrument(redis_span("peek")).await
    }

    async fn peek_many(&self, keys: &[SessionKey]) -> Result<Vec<Option<(SessionRecord, u64)>>, StoreError> {
        self.0.peek_many(keys).instrument(redis_span("peek_many")).await
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.0.remove(key).instrument(redis_span("remove")).await
    }

    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.0.keys_by_sid(sid).instrument(redis_span("keys by sid")).await
    }

    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.0.keys_by_sub(sub).instrument(redis_span("keys by sub")).await
    }

    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError> {
        self.0.count_sessions(now).await
    }

    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.0.try_lock(key, owner, ttl).instrument(redis_span("lock")).await
    }

    async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        self.0.unlock(key, owner).instrument(redis_span("unlock")).await
    }

    async fn mark_once(&self, mark: Mark, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.0.mark_once(mark, id, ttl).instrument(redis_span("mark")).await
    }

    async fn is_marked(&self, mark: Mark, id: &str) -> Result<bool, StoreError> {
        self.0.is_marked(mark, id).await
    }

    async fn unmark(&self, mark: Mark, id: &str) -> Result<(), StoreError> {
        self.0.unmark(mark, id).instrument(redis_span("unmark")).await
    }

    async fn shared_key(&self, name: &str, candidate: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        self.0.shared_key(name, candidate).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}
