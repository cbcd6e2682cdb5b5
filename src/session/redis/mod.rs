//! The Redis implementation of [`SessionStore`].
//!
//! One multiplexed connection carries every command (pipelined by the client): a request
//! clones it from a mutex (no pool checkout, no health check) and the hot path costs one
//! round trip, `GET` + `PTTL` pipelined. Reads do not write: the idle expiry slides at most
//! once per [`SLIDE_INTERVAL`], by an `EXPIRE` sent off the response path (see `slide`).
//! deadpool-redis is only the connection factory: it bounds connection set-up; the
//! connection is taken out of the pool, so the pool's recycle check (`UNWATCH` + `PING`)
//! never runs. When the shared connection breaks or a command times out, it is dropped and
//! the next request opens a new one (the others waiting at that moment share it), so an
//! outage heals by itself.
//!
//! The key layout is in `keys.rs`.
//!
//! A key of another type at a session or index key reads as absent, never as an error,
//! and the next write replaces it. No key name is shared with the earlier layout (hex
//! names, a `P sessions` sorted set), so replicas of both can run side by side during a
//! rolling update. See docs/DESIGN.md for the record layout and the commands.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod batch;
mod connection;
mod gauge;
mod indexes;
mod keys;
mod shared;
mod slide;
mod tls;

use connection::{Conn, Factory};
use keys::KeyNames;
use redis::{AsyncCommands, RedisError, RedisResult, Script};
use shared::{Shared, OPERATION_TIMEOUT};
pub use slide::SLIDE_INTERVAL;
use slide::{slide_due, Sliding};
pub use tls::TrustError;

use super::store::{Mark, SessionStore, StoreError};
use super::{now, SessionKey, SessionRecord};
use crate::config::RedisSettings;
use crate::telemetry::metrics::Metrics;

/// Deletes a lock only if its value is still ours.
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// Also inside a pipeline's error (the hot path's `GET` + `PTTL`).
fn is_wrong_type(e: &RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
        || e.clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, e)| e.code() == "WRONGTYPE"))
}

/// A key of another type than expected (left by an earlier layout) reads as absent.
fn absent_if_wrong_type<T: Default>(result: RedisResult<T>) -> RedisResult<T> {
    match result {
        Err(e) if is_wrong_type(&e) => Ok(T::default()),
        other => other,
    }
}

/// Why the store cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the Redis settings are not usable")]
    Pool(#[from] deadpool_redis::CreatePoolError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("the Redis client cannot be built with the certificates of OIDC_EXTRA_CA_FILE")]
    Client(#[source] RedisError),
}

pub struct RedisStore {
    shared: Shared,
    reads: batch::Batcher,
    sliding: Sliding,
    keys: KeyNames,
    unlock_script: Script,
    metrics: Arc<Metrics>,
}

impl RedisStore {
    /// Builds the store; it connects lazily, so a Redis that is down at start is not fatal.
    /// `extra_ca` (`OIDC_EXTRA_CA_FILE`) is trusted besides the public roots for `rediss://`.
    pub fn new(settings: &RedisSettings, extra_ca: Option<&Path>, metrics: Arc<Metrics>) -> Result<Self, SetupError> {
        let factory = match extra_ca.filter(|_| tls::uses_tls(&settings.mode)) {
            Some(ca) => Factory::Trusting(Box::new(
                tls::Clients::new(&settings.mode, tls::certificates(ca)?).map_err(SetupError::Client)?,
            )),
            None => Factory::new(&settings.mode, OPERATION_TIMEOUT)?,
        };
        Ok(Self {
            shared: Shared::new(factory, metrics.clone()),
            reads: batch::Batcher::default(),
            sliding: Sliding::default(),
            keys: KeyNames::new(&settings.key_prefix),
            unlock_script: Script::new(UNLOCK),
            metrics,
        })
    }

    /// How many pipelines have carried the hot path's reads (`GET` + `PTTL` of one or more
    /// sessions) on a single-node connection; for tests and diagnostics.
    pub fn read_pipelines_sent(&self) -> u64 {
        self.reads.pipelines_sent()
    }

    /// `SET` of a session: it lives for the idle timeout, or until its absolute end when
    /// that comes first. `XX`: only over a session that still exists.
    fn set_session(&self, key: &SessionKey, record: &SessionRecord, idle: Duration, existing: bool) -> redis::Cmd {
        let idle = idle.as_secs().max(1);
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.keys.session(key)).arg(record.encode());
        if existing {
            cmd.arg("XX");
        }
        if now() + idle >= record.expires_at {
            cmd.arg("EXAT").arg(record.expires_at.max(1));
        } else {
            cmd.arg("EX").arg(idle);
        }
        cmd
    }

    /// Runs one operation on the shared connection (see [`Shared::run`]).
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        self.shared.run(op).await
    }

    fn decode(raw: Option<Vec<u8>>) -> Result<Option<SessionRecord>, StoreError> {
        raw.map(|bytes| SessionRecord::decode_owned(bytes.into()).map_err(|e| StoreError::Corrupt(Box::new(e))))
            .transpose()
    }

    /// Sets `key` for `ttl` unless it exists; false when it did (seen before).
    async fn set_once(&self, key: String, ttl: Duration) -> Result<bool, StoreError> {
        let ttl = ttl.as_secs().max(1);
        let set: Option<String> = self
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError> {
        let set = self.set_session(key, record, idle, false);
        self.run(|mut c| async move { set.query_async::<()>(&mut c).await })
            .await?;
        // The gauge and the indexes for back-channel logout: separate keys (other hash
        // slots), so separate commands, sent together: on the shared connection they leave
        // in one write, so a login waits for one round trip here, not one per key.
        let (sub, sid) = self.indexes(record);
        tokio::try_join!(
            self.count(record.expires_at, 1),
            self.index(sub, key, record.expires_at),
            async {
                match sid {
                    Some(sid) => self.index(sid, key, record.expires_at).await,
                    None => Ok(()),
                }
            },
        )?;
        Ok(())
    }

    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError> {
        let set = self.set_session(key, record, idle, true);
        let updated: Option<String> = self.run(|mut c| async move { set.query_async(&mut c).await }).await?;
        Ok(updated.is_some())
    }

    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let lock = self.keys.lock(key);
        let owner = owner.to_owned();
        let ms = ttl.as_millis().max(1) as u64;
        let set: Option<String> = self
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(lock)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    async fn unlock(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        let lock = self.keys.lock(key);
        let owner = owner.to_owned();
        self.run(|mut c| async move {
            self.unlock_script
                .key(lock)
                .arg(owner)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(|_| ())
    }

    async fn load(&self, key: &SessionKey, idle: Duration, now: u64) -> Result<Option<SessionRecord>, StoreError> {
        // Reads only, in one round trip: a read that slid the expiry every time would reach
        // every replica as a write (see `slide_due`). On one node, sent together with the
        // other requests' reads (`batch`), which take the key's name; the rare branches
        // below name it again.
        let name = self.keys.session(key);
        let (raw, ttl_ms): (Option<Vec<u8>>, i64) = self
            .run(|c| async {
                absent_if_wrong_type(match c {
                    Conn::Multiplexed(_) => self.reads.lookup(c, name).await,
                    Conn::Cluster(mut c) => {
                        let mut lookup = redis::pipe();
                        lookup.get(&name).cmd("PTTL").arg(&name);
                        lookup.query_async(&mut c).await
                    }
                })
            })
            .await?;
        let Some(record) = Self::decode(raw)? else {
            return Ok(None);
        };
        if record.expires_at <= now {
            let name = self.keys.session(key);
            self.run(|mut c| async move { c.del::<_, ()>(name).await }).await?;
            return Ok(None);
        }
        if slide_due(ttl_ms, idle, record.expires_at, now) {
            if let Some(conn) = self.shared.current() {
                let name = self.keys.session(key);
                self.sliding
                    .start(conn, &self.metrics, name, idle, record.expires_at, now);
            }
        }
        Ok(Some(record))
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let session_key = self.keys.session(key);
        let raw: Option<Vec<u8>> = self
            .run(|mut c| async move {
                match c.get_del(&session_key).await {
                    // Not a session of this layout: it goes all the same.
                    Err(e) if is_wrong_type(&e) => c.del::<_, ()>(&session_key).await.map(|_| None),
                    other => other,
                }
            })
            .await?;
        let Some(record) = Self::decode(raw)? else {
            return Ok(None);
        };
        // Sent together, as in `save`.
        let (sub, sid) = self.indexes(&record);
        tokio::try_join!(
            async {
                // A passed bucket is dropped at the next scrape anyway; do not bring it back.
                self.uncount(record.expires_at).await
            },
            self.unlist(sub, key),
            async {
                match sid {
                    Some(sid) => self.unlist(sid, key).await,
                    None => Ok(()),
                }
            },
        )?;
        Ok(Some(record))
    }

    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.keys_in(self.keys.index("sid", sid)).await
    }

    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.live_in(self.keys.index("sub", sub)).await
    }

    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let session_key = self.keys.session(key);
        let raw: Option<Vec<u8>> = self
            .run(|mut c| async move { absent_if_wrong_type(c.get(session_key).await) })
            .await?;
        Self::decode(raw)
    }

    async fn peek_many(&self, keys: &[SessionKey]) -> Result<Vec<Option<(SessionRecord, u64)>>, StoreError> {
        let session_keys: Vec<String> = keys.iter().map(|k| self.keys.session(k)).collect();
        // Sent at once on the multiplexed connection: one round trip for all of them. Each
        // GET + PTTL pair names one key, so it stays within one hash slot on a cluster.
        let raw: Vec<(Option<Vec<u8>>, i64)> = self
            .run(|c| async move {
                let reads = session_keys.iter().map(|key| {
                    let mut c = c.clone();
                    async move {
                        let read: (Option<Vec<u8>>, i64) =
                            absent_if_wrong_type(redis::pipe().get(key).pttl(key).query_async(&mut c).await.map(Some))?
                                .unwrap_or((None, -2));
                        Ok::<_, RedisError>(read)
                    }
                });
                futures_util::future::try_join_all(reads).await
            })
            .await?;
        let now_ms = crate::session::now_millis();
        raw.into_iter()
            .map(|(value, ttl_ms)| {
                let record = Self::decode(value)?;
                // A key without a TTL (-1) should not exist; it reads as ending at its absolute end.
                Ok(record.map(|r| {
                    let until = match u64::try_from(ttl_ms) {
                        Ok(ms) => (now_ms + ms).div_ceil(1000),
                        Err(_) => r.expires_at,
                    };
                    (r, until)
                }))
            })
            .collect()
    }

    async fn mark_once(&self, mark: Mark, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.set_once(self.keys.mark(mark, id), ttl).await
    }

    async fn is_marked(&self, mark: Mark, id: &str) -> Result<bool, StoreError> {
        let key = self.keys.mark(mark, id);
        self.run(|mut c| async move { c.exists(key).await }).await
    }

    async fn unmark(&self, mark: Mark, id: &str) -> Result<(), StoreError> {
        let key = self.keys.mark(mark, id);
        self.run(|mut c| async move { c.del::<_, ()>(key).await }).await
    }

    async fn shared_key(&self, name: &str, candidate: &[u8; 32]) -> Result<Vec<u8>, StoreError> {
        let key = self.keys.named(name);
        let candidate = candidate.to_vec();
        let value: Option<Vec<u8>> = self
            .run(|mut c| async move {
                let (value,): (Option<Vec<u8>>,) = redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(candidate)
                    .arg("NX")
                    .ignore()
                    .get(&key)
                    .query_async(&mut c)
                    .await?;
                Ok(value)
            })
            .await?;
        value.ok_or_else(|| StoreError::Corrupt("the shared key vanished as it was written".into()))
    }

    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError> {
        self.counted(now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
    }
}
