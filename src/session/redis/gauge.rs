//! The active-sessions gauge: `P session-ends`, a hash of absolute ends rounded up to
//! [`GAUGE_BUCKET`] → sessions ending then. A login adds one, an end takes one away, and a
//! scrape sums the buckets not yet passed (and drops the others): no per-session entry.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::RedisStore;
use crate::session::{now, StoreError};

/// Width of the gauge's buckets, in seconds.
const GAUGE_BUCKET: u64 = 600;

/// The gauge bucket of a session: its absolute end, rounded up.
fn bucket_of(expires_at: u64) -> u64 {
    expires_at.div_ceil(GAUGE_BUCKET) * GAUGE_BUCKET
}

impl RedisStore {
    /// Adds `delta` to the gauge bucket of sessions ending at `expires_at`.
    pub(super) async fn count(&self, expires_at: u64, delta: i64) -> Result<(), StoreError> {
        let counter = self.keys.counter();
        let bucket = bucket_of(expires_at);
        self.run(|mut c| async move { c.hincr::<_, _, _, ()>(counter, bucket, delta).await })
            .await
    }

    /// Takes an ended session out of the gauge. A passed bucket is dropped at the next
    /// scrape anyway; it is not brought back.
    pub(super) async fn uncount(&self, expires_at: u64) -> Result<(), StoreError> {
        if bucket_of(expires_at) > now() {
            self.count(expires_at, -1).await
        } else {
            Ok(())
        }
    }

    /// The sessions whose bucket has not passed at `now`; the passed buckets are removed.
    pub(super) async fn counted(&self, now: u64) -> Result<u64, StoreError> {
        let counter = self.keys.counter();
        let key = counter.clone();
        let buckets: HashMap<String, i64> = self.run(|mut c| async move { c.hgetall(key).await }).await?;
        let (live, passed): (Vec<_>, Vec<_>) = buckets
            .into_iter()
            .partition(|(bucket, _)| bucket.parse::<u64>().is_ok_and(|end| end > now));
        if !passed.is_empty() {
            let fields: Vec<String> = passed.into_iter().map(|(bucket, _)| bucket).collect();
            self.run(|mut c| async move { c.hdel::<_, _, ()>(counter, fields).await })
                .await?;
        }
        // A removal racing a scrape can leave a bucket below zero for a moment.
        Ok(live.into_iter().map(|(_, n)| n).sum::<i64>().max(0) as u64)
    }
}
