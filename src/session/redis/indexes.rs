//! The back-channel logout indexes (`P sid:{H}`, `P sub:{H}`): session key → absolute end.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::{absent_if_wrong_type, RedisStore};
use crate::session::{now, SessionKey, SessionRecord, StoreError};

impl RedisStore {
    /// The back-channel logout indexes a session is listed in: `sub`, and `sid` when it has one.
    pub(super) fn indexes(&self, record: &SessionRecord) -> (String, Option<String>) {
        let sub = self.keys.index("sub", &record.identity.sub);
        (sub, record.sid.as_deref().map(|sid| self.keys.index("sid", sid)))
    }

    /// Lists a session in an index until its absolute end, and drops the fields of sessions
    /// past their absolute end: an index lives as long as the longest session it can point
    /// to. Writing and reading the index are one pipeline (one key, so one hash slot in
    /// Cluster too); sessions that ended by idle timeout are dropped by [`Self::live_in`].
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
        let now = now();
        let passed: Vec<String> = fields
            .into_iter()
            .filter(|(_, end)| *end <= now)
            .map(|(f, _)| f)
            .collect();
        self.drop_fields(index, passed).await
    }

    /// The sessions of an index that are still live, oldest first (by absolute end), and
    /// the fields of the others dropped. One read of the index, then one `EXISTS` per
    /// unexpired session, all in one pipeline (one round trip however many sessions the
    /// user has; see [`super::connection::Conn::exists_each`] for Cluster).
    pub(super) async fn live_in(&self, index: String) -> Result<Vec<SessionKey>, StoreError> {
        let now = now();
        let mut fields = self.fields(&index).await?;
        fields.sort_by(|(a, end_a), (b, end_b)| end_a.cmp(end_b).then_with(|| a.cmp(b)));
        let (unexpired, passed): (Vec<_>, Vec<_>) = fields.into_iter().partition(|(_, end)| *end > now);
        let mut dead: Vec<String> = passed.into_iter().map(|(field, _)| field).collect();
        let keys = unexpired
            .iter()
            .map(|(field, _)| self.keys.session(&SessionKey(field.clone())))
            .collect();
        let alive = self.run(|c| c.exists_each(keys)).await?;
        let mut live = Vec::new();
        for ((field, _), alive) in unexpired.into_iter().zip(alive) {
            if alive {
                live.push(SessionKey(field));
            } else {
                dead.push(field);
            }
        }
        self.drop_fields(index, dead).await?;
        Ok(live)
    }

    async fn drop_fields(&self, index: String, fields: Vec<String>) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        self.run(|mut c| async move { c.hdel::<_, _, ()>(index, fields).await })
            .await
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
}
