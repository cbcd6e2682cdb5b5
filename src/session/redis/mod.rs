//! The Redis implementation of [`SessionStore`].
//!
//! One multiplexed connection carries every command (pipelined by the client), so the
//! hot path costs exactly one round trip. deadpool-redis is the connection factory: it
//! bounds connection set-up and health-checks each fresh connection; when the shared
//! connection breaks, the next request takes a new one, so an outage heals by itself.
//!
//! Key layout (`P` = `OIDC_REDIS_KEY_PREFIX`; `{…}` is a Cluster hash tag):
//! - `P session:{K}`  hash `v` (record JSON) + `exp` (absolute end), TTL = idle timeout
//! - `P session:{K}:lock`  refresh lock (owner token), expires by itself
//! - `P login:{S}`    pending login JSON, TTL = login timeout, taken with GETDEL
//! - `P sid:{H}` / `P sub:{H}`  sets of session keys for back-channel logout
//! - `P jti:{H}`      seen logout-token ids
//! - `P sessions`     sorted set of session keys by absolute end (active-sessions gauge)

use std::sync::Mutex;
use std::time::Duration;

mod connection;

use connection::{Conn, Factory};
use redis::{AsyncCommands, RedisError, Script};

use super::store::{SessionStore, StoreError};
use super::{sha256_hex, PendingLogin, SessionKey, SessionRecord};
use crate::config::RedisSettings;
use crate::telemetry::metrics::Metrics;

/// Every store call answers within this bound, or fails with [`StoreError::Timeout`].
const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the record and slides the idle TTL, capped at the absolute end; deletes a
/// record past its absolute end. One round trip.
const LOAD_AND_TOUCH: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'v', 'exp')
if not r[1] then return false end
local left = tonumber(r[2]) - tonumber(ARGV[2])
if left <= 0 then redis.call('DEL', KEYS[1]) return false end
local ttl = tonumber(ARGV[1])
if left < ttl then ttl = left end
redis.call('EXPIRE', KEYS[1], ttl)
return r[1]
"#;

/// Rewrites a session only while it exists.
const UPDATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'exp', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"#;

/// Deletes a lock only if its value is still ours.
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub struct RedisStore {
    factory: Factory,
    shared: Mutex<Option<Conn>>,
    prefix: String,
    load_script: Script,
    update_script: Script,
    unlock_script: Script,
    metrics: std::sync::Arc<Metrics>,
}

impl RedisStore {
    /// Builds the store; it connects lazily, so a Redis that is down at start is not fatal.
    pub fn new(
        settings: &RedisSettings,
        metrics: std::sync::Arc<Metrics>,
    ) -> Result<Self, deadpool_redis::CreatePoolError> {
        Ok(Self {
            factory: Factory::new(&settings.mode, OPERATION_TIMEOUT)?,
            shared: Mutex::new(None),
            prefix: settings.key_prefix.clone(),
            load_script: Script::new(LOAD_AND_TOUCH),
            update_script: Script::new(UPDATE),
            unlock_script: Script::new(UNLOCK),
            metrics,
        })
    }

    fn session_key(&self, key: &SessionKey) -> String {
        format!("{}session:{{{}}}", self.prefix, key.0)
    }

    /// Same hash tag as the session: both live in one Cluster slot.
    fn lock_key(&self, key: &SessionKey) -> String {
        format!("{}session:{{{}}}:lock", self.prefix, key.0)
    }

    fn ttl_for(record: &SessionRecord, idle: Duration) -> (u64, u64) {
        let left = record.expires_at.saturating_sub(super::now()).max(1);
        (idle.as_secs().clamp(1, left), left)
    }

    fn index_key(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{{{}}}", self.prefix, sha256_hex(value.as_bytes()))
    }

    /// Every session by absolute end, for the active-sessions gauge.
    fn all_sessions_key(&self) -> String {
        format!("{}sessions", self.prefix)
    }

    fn login_key(&self, state: &str) -> String {
        format!("{}login:{{{}}}", self.prefix, sha256_hex(state.as_bytes()))
    }

    async fn connection(&self) -> Result<Conn, StoreError> {
        if let Some(conn) = self.shared.lock().expect("not poisoned").clone() {
            return Ok(conn);
        }
        let conn = self.factory.connect().await.map_err(StoreError::Connect)?;
        *self.shared.lock().expect("not poisoned") = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one operation on the shared connection, bounded in time; a broken
    /// connection is dropped so that the next call reconnects.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            op(conn).await.map_err(|e| {
                // READONLY: a failover demoted the node we talk to; MASTERDOWN likewise.
                // Reconnecting asks the sentinels (or the cluster) for the master again.
                let demoted = matches!(e.code(), Some("READONLY" | "MASTERDOWN"));
                if demoted
                    || e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_timeout()
                    || e.is_connection_refusal()
                {
                    self.shared.lock().expect("not poisoned").take();
                }
                StoreError::Unavailable(e)
            })
        };
        let result = match tokio::time::timeout(OPERATION_TIMEOUT, attempt).await {
            Ok(result) => result,
            Err(_) => {
                self.shared.lock().expect("not poisoned").take();
                Err(StoreError::Timeout(OPERATION_TIMEOUT))
            }
        };
        if result.is_err() {
            self.metrics.redis_errors.inc();
        }
        result
    }

    fn decode<T: serde::de::DeserializeOwned>(raw: Option<Vec<u8>>) -> Result<Option<T>, StoreError> {
        raw.map(|bytes| serde_json::from_slice(&bytes).map_err(StoreError::Corrupt))
            .transpose()
    }

    async fn keys_in(&self, index: String) -> Result<Vec<SessionKey>, StoreError> {
        let members: Vec<String> = self.run(|mut c| async move { c.smembers(index).await }).await?;
        Ok(members.into_iter().map(SessionKey).collect())
    }
}

impl SessionStore for RedisStore {
    async fn save(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<(), StoreError> {
        let (ttl, left) = Self::ttl_for(record, idle);
        let value = serde_json::to_vec(record).expect("session records serialize");
        let session_key = self.session_key(key);
        let exp = record.expires_at;
        self.run(|mut c| async move {
            redis::pipe()
                .atomic()
                .del(&session_key)
                .hset_multiple(
                    &session_key,
                    &[("v", value.as_slice()), ("exp", exp.to_string().as_bytes())],
                )
                .expire(&session_key, ttl as i64)
                .query_async::<()>(&mut c)
                .await
        })
        .await?;
        // Indexes for back-channel logout: separate keys (other hash slots), so separate
        // commands. They live as long as the longest session they can point to; stale
        // members are dropped when a logout finds their session gone.
        let all = self.all_sessions_key();
        let member = key.0.clone();
        self.run(|mut c| async move { c.zadd::<_, _, _, ()>(all, member, exp).await })
            .await?;
        let mut indexes = vec![self.index_key("sub", &record.identity.sub)];
        if let Some(sid) = &record.sid {
            indexes.push(self.index_key("sid", sid));
        }
        for index in indexes {
            let member = key.0.clone();
            self.run(|mut c| async move {
                redis::pipe()
                    .sadd(&index, member)
                    .expire(&index, left as i64)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
        }
        Ok(())
    }

    async fn update(&self, key: &SessionKey, record: &SessionRecord, idle: Duration) -> Result<bool, StoreError> {
        let (ttl, _) = Self::ttl_for(record, idle);
        let value = serde_json::to_vec(record).expect("session records serialize");
        let session_key = self.session_key(key);
        let exp = record.expires_at;
        let updated: i64 = self
            .run(|mut c| async move {
                self.update_script
                    .key(session_key)
                    .arg(value)
                    .arg(exp)
                    .arg(ttl)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(updated == 1)
    }

    async fn try_lock(&self, key: &SessionKey, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let lock = self.lock_key(key);
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
        let lock = self.lock_key(key);
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
        let session_key = self.session_key(key);
        let raw: Option<Vec<u8>> = self
            .run(|mut c| async move {
                self.load_script
                    .key(session_key)
                    .arg(idle.as_secs().max(1))
                    .arg(now)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Self::decode(raw)
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let session_key = self.session_key(key);
        let (raw, _): (Option<Vec<u8>>, i64) = self
            .run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .hget(&session_key, "v")
                    .del(&session_key)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let record: Option<SessionRecord> = Self::decode(raw)?;
        let (all, member) = (self.all_sessions_key(), key.0.clone());
        self.run(|mut c| async move { c.zrem::<_, _, ()>(all, member).await })
            .await?;
        if let Some(record) = &record {
            let mut indexes = vec![self.index_key("sub", &record.identity.sub)];
            indexes.extend(record.sid.as_deref().map(|sid| self.index_key("sid", sid)));
            for index in indexes {
                let member = key.0.clone();
                self.run(|mut c| async move { c.srem::<_, _, ()>(index, member).await })
                    .await?;
            }
        }
        Ok(record)
    }

    async fn keys_by_sid(&self, sid: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.keys_in(self.index_key("sid", sid)).await
    }

    async fn keys_by_sub(&self, sub: &str) -> Result<Vec<SessionKey>, StoreError> {
        self.keys_in(self.index_key("sub", sub)).await
    }

    async fn peek(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let session_key = self.session_key(key);
        let raw: Option<Vec<u8>> = self.run(|mut c| async move { c.hget(session_key, "v").await }).await?;
        Self::decode(raw)
    }

    async fn remember_jti(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.index_key("jti", id);
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

    async fn put_pending(&self, state: &str, login: &PendingLogin, ttl: Duration) -> Result<(), StoreError> {
        let key = self.login_key(state);
        let value = serde_json::to_vec(login).expect("pending logins serialize");
        let ttl = ttl.as_secs().max(1);
        self.run(|mut c| async move { c.set_ex::<_, _, ()>(key, value, ttl).await })
            .await
    }

    async fn take_pending(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let key = self.login_key(state);
        let raw: Option<Vec<u8>> = self.run(|mut c| async move { c.get_del(key).await }).await?;
        Self::decode(raw)
    }

    async fn count_sessions(&self, now: u64) -> Result<u64, StoreError> {
        let all = self.all_sessions_key();
        let (_, count): (i64, u64) = self
            .run(|mut c| async move {
                redis::pipe()
                    .zrembyscore(&all, "-inf", now)
                    .zcard(&all)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(count)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
    }
}
