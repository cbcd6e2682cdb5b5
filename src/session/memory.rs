//! A [`SessionStore`] in process memory, for the service's unit tests (no `redis-server`
//! needed); the conformance suite holds it to the same contract as the Redis store. Not
//! for production: sessions live in one process only.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::store::{Mark, SessionStore, StoreError};
use super::{now, SessionKey, SessionRecord};

#[derive(Default)]
struct State {
    /// Session → (record, expiry in unix seconds).
    sessions: HashMap<SessionKey, (SessionRecord, u64)>,
    locks: HashMap<SessionKey, (String, Instant)>,
    by_sid: HashMap<String, HashSet<SessionKey>>,
    by_sub: HashMap<String, HashSet<SessionKey>>,
    /// Marks by kind and id → when they expire.
    marks: HashMap<(Mark, String), Instant>,
    shared: HashMap<String, Vec<u8>>,
}

impl State {
    /// The session if it has not expired; an expired one is dropped on the way.
    fn live(&mut self, key: &SessionKey, now: u64) -> Option<&mut (SessionRecord, u64)> {
        let expired = self.sessions.get(key).is_some_and(|(_, until)| *until <= now);
        if expired {
            self.drop_session(key);
        }
        self.sessions.get_mut(key)
    }

    fn drop_session(&mut self, key: &SessionKey) -> Option<SessionRecord> {
        let (record, _) = self.sessions.remove(key)?;
        if let Some(sid) = &record.sid {
            self.by_sid.get_mut(sid).map(|keys| keys.remove(key));
        }
        self.by_sub.get_mut(&record.identity.sub).map(|keys| keys.remove(key));
        Some(record)
    }

    fn indexed(
        &mut self,
        index: fn(&mut Self) -> &mut HashMap<String, HashSet<SessionKey>>,
        value: &str,
    ) -> Vec<SessionKey> {
        let now = now();
        let keys: Vec<SessionKey> = index(self).get(value).into_iter().flatten().cloned().collect();
        keys.into_iter().filter(|k| self.live(k, now).is_some()).collect()
    }
}

/// Expiry of a session written now: after `idle`, never past its absolute end.
fn expiry(record: &SessionRecord, idle: Duration, now: u64) -> u64 {
    (now + idle.as_secs().max(1)).min(record.expires_at)
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError> {
        let mut state = self.state();
        state.drop_session(key);
        if let Some(sid) = &record.sid {
            state.by_sid.entry(sid.clone()).or_default().insert(key.clone());
        }
        let sub = record.identity.sub.clone();
        state.by_sub.entry(sub).or_default().insert(key.clone());
        let until = expiry(record, idle, now());
        state.sessions.insert(key.clone(), (record.clone(), until));
        Ok(())
    }

    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError> {
        let now = now();
        let mut state = self.state();
        let Some(entry) = state.live(key, now) else {
            return Ok(false);
        };
        *entry = (record.clone(), expiry(record, idle, now));
        Ok(true)
    }

    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut state = self.state();
        let held = state.locks.get(key).is_some_and(|(_, until)| *until > Instant::now());
        if held {
            return Ok(false);
        }
        state
            .locks
            .insert(key.clone(), (owner.to_owned(), Instant::now() + ttl));
        Ok(true)
    }

    async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.locks.get(key).is_some_and(|(holder, _)| holder == owner) {
            state.locks.remove(key);
        }
        Ok(())
    }

    async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        let mut state = self.state();
        let Some((record, until)) = state.live(key, now) else {
            return Ok(None);
        };
        if record.expires_at <= now {
            state.drop_session(key);
            return Ok(None);
        }
        *until = expiry(record, idle, now);
        Ok(Some(record.clone()))
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let mut state = self.state();
        let live = state.live(key, now()).is_some();
        Ok(state.drop_session(key).filter(|_| live))
    }

    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError> {
        Ok(self.state().indexed(|s| &mut s.by_sid, sid))
    }

    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError> {
        let mut state = self.state();
        let mut keys = state.indexed(|s| &mut s.by_sub, sub);
        // Oldest first: by absolute end, as the Redis index orders them.
        keys.sort_by_key(|k| (state.sessions.get(k).map_or(0, |(r, _)| r.expires_at), k.0.clone()));
        Ok(keys)
    }

    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.state().live(key, now()).map(|(record, _)| record.clone()))
    }

    async fn peek_many(&self, keys: &[SessionKey]) -> Result<Vec<Option<(SessionRecord, u64)>>, StoreError> {
        let mut state = self.state();
        let now = now();
        Ok(keys
            .iter()
            .map(|key| state.live(key, now).map(|(record, until)| (record.clone(), *until)))
            .collect())
    }

    async fn mark_once(&self, mark: Mark, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = (mark, id.to_owned());
        let seen = state.marks.get(&key).is_some_and(|until| *until > Instant::now());
        if !seen {
            state
                .marks
                .insert(key, Instant::now() + ttl.max(Duration::from_secs(1)));
        }
        Ok(!seen)
    }

    async fn is_marked(&self, mark: Mark, id: &str) -> Result<bool, StoreError> {
        let key = (mark, id.to_owned());
        Ok(self
            .state()
            .marks
            .get(&key)
            .is_some_and(|until| *until > Instant::now()))
    }

    async fn unmark(&self, mark: Mark, id: &str) -> Result<(), StoreError> {
        self.state().marks.remove(&(mark, id.to_owned()));
        Ok(())
    }

    async fn shared_key(&self, name: &str, candidate: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        let mut store = self.state();
        Ok(store
            .shared
            .entry(name.to_owned())
            .or_insert_with(|| candidate.to_vec())
            .clone())
    }

    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError> {
        let state = self.state();
        Ok(state.sessions.values().filter(|(r, _)| r.expires_at > now).count() as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
