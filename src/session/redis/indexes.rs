//! The back-channel logout indexes (`P sid:{H}`, `P sub:{H}`): session key → absolute end.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::{absent_if_wrong_type, RedisStore};
use crate::session::{now, SessionKey, SessionRecord, StoreError};
use crate::util::sha256_base64url;

impl RedisStore {
    pub(super) fn index_key(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{{{}}}", self.prefix, sha256_base64url(value.as_bytes()))
    }

    /// The back-channel logout indexes a session is listed in: `sub`, and `sid` when it has one.
    pub(super) fn indexes(&self, record: &SessionRecord) -> (String, Option<String>) {
        let sub = self.index_key("sub", &record.identity.sub);
        (sub, record.sid.as_deref().map(|sid| self.index_key("sid", sid)))
    }

    /// Lists a session in an index until its absolute end and drops the fields of the
    /// user's sessions that have ended (by idle timeout or absolute end): an index lives as
    /// long as the longest session it can point to and holds live sessions only, plus those
    /// ended since the user's last login. Writing and reading the index are one pipeline
    /// (one key, so one hash slot in Cluster too).
    pub(super) async fn index(&self, index: String, key: &SessionKey, end: u64) -> Result<(), StoreError> {
        let left = end.saturating_sub(now()).max(1);
        let (target, field) = (index.clone(), key.0.clone());
        let (fields,): (HashMap<String, u64>,) = self
            .run(|mut c| async move {
                redis::pipe()
                    .hset(&target, field, end)
                    .ignore()
                    .expire(&target, left as i64)
                    .ignore()
                    .hgetall(&target)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        self.prune(index, fields, key).await
    }

    /// Takes a session out of an index.
    pub(super) async fn unlist(&self, index: String, key: &SessionKey) -> Result<(), StoreError> {
        let field = key.0.clone();
        self.run(|mut c| async move { c.hdel::<_, _, ()>(index, field).await })
            .await
    }

    /// The index's fields: session key → absolute end.
    async fn fields(&self, index: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let index = index.to_owned();
        let fields: HashMap<String, u64> = self
            .run(|mut c| async move { absent_if_wrong_type(c.hgetall(index).await) })
            .await?;
        Ok(fields.into_iter().collect())
    }

    /// Sessions listed in an index that have not reached their absolute end.
    pub(super) async fn keys_in(&self, index: String) -> Result<Vec<SessionKey>, StoreError> {
        let now = now();
        let fields = self.fields(&index).await?;
        Ok(fields
            .into_iter()
            .filter(|(_, end)| *end > now)
            .map(|(field, _)| SessionKey(field))
            .collect())
    }

    /// Drops from an index the fields of sessions that have ended; `keep` was just written.
    async fn prune(&self, index: String, fields: HashMap<String, u64>, keep: &SessionKey) -> Result<(), StoreError> {
        let now = now();
        let mut dead = Vec::new();
        for (field, end) in fields {
            if field == keep.0 {
                continue;
            }
            let session = self.session_key(&SessionKey(field.clone()));
            let exists: bool = end > now && self.run(|mut c| async move { c.exists(session).await }).await?;
            if !exists {
                dead.push(field);
            }
        }
        if !dead.is_empty() {
            self.run(|mut c| async move { c.hdel::<_, _, ()>(index, dead).await })
                .await?;
        }
        Ok(())
    }
}
