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

    /// The back-channel logout indexes a session is listed in.
    pub(super) fn indexes(&self, record: &SessionRecord) -> Vec<String> {
        let mut indexes = vec![self.index_key("sub", &record.identity.sub)];
        indexes.extend(record.sid.as_deref().map(|sid| self.index_key("sid", sid)));
        indexes
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

    /// Drops the fields of sessions that have ended (by idle timeout or absolute end)
    /// from an index; `keep` was just written.
    pub(super) async fn prune(&self, index: String, keep: &SessionKey) -> Result<(), StoreError> {
        let now = now();
        let mut dead = Vec::new();
        for (field, end) in self.fields(&index).await? {
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
