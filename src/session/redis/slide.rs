//! When a read slides a session's idle expiry. Sliding on every read would make each
//! introspection a write that every replica applies (`GETEX … EX` is replicated as
//! `PEXPIREAT`), so a read slides it only once per interval, and the sliding `EXPIRE` is
//! sent off the response path.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::connection::Conn;
use super::OPERATION_TIMEOUT;
use crate::telemetry::metrics::Metrics;

/// At most this often (and a quarter of the idle timeout when that is shorter) a read slides
/// a session's idle expiry (README, "Sessions").
pub const SLIDE_INTERVAL: Duration = Duration::from_secs(60);

/// How much of the idle timeout a session may have used before a read slides it again.
/// Sliding on every read would make each introspection a write that every replica
/// applies; so a session ends between `idle - interval` and `idle` after its last use.
fn slide_interval(idle: Duration) -> Duration {
    SLIDE_INTERVAL.min(idle / 4)
}

/// Whether a read of a session whose key has `ttl_ms` left (`PTTL`: -1 no expiry, -2
/// gone) should slide its expiry: when it is more than [`slide_interval`] short of where a
/// slide would put it, the idle timeout from `now` or the absolute end, whichever is first.
pub(super) fn slide_due(ttl_ms: i64, idle: Duration, expires_at: u64, now: u64) -> bool {
    let target_ms = idle.as_millis().min(u128::from(expires_at.saturating_sub(now)) * 1000);
    match ttl_ms {
        -1 => true,
        ttl if ttl < 0 => false,
        ttl => target_ms.saturating_sub(ttl as u128) > slide_interval(idle).as_millis(),
    }
}

/// The sessions with a slide under way: reads that find one due meanwhile send no other,
/// so a busy session is slid once per interval, not once per request in flight.
#[derive(Default)]
pub(super) struct Sliding(Arc<Mutex<HashSet<String>>>);

impl Sliding {
    /// Slides a session's expiry off the response path: the request that read it does not
    /// wait. `EXPIRE` never creates a key, so a session removed meanwhile stays removed; a
    /// slide that fails is retried by the next read, whose `PTTL` still says it is due.
    pub(super) fn start(
        &self,
        mut conn: Conn,
        metrics: &Arc<Metrics>,
        session_key: String,
        idle: Duration,
        expires_at: u64,
        now: u64,
    ) {
        if !self.0.lock().expect("not poisoned").insert(session_key.clone()) {
            return;
        }
        let idle = idle.as_secs().max(1);
        // As a write of the session: the idle timeout, or the absolute end when that is first.
        let (command, at) = match now + idle >= expires_at {
            true => ("EXPIREAT", expires_at),
            false => ("EXPIRE", idle),
        };
        let mut slide = redis::cmd(command);
        slide.arg(&session_key).arg(at);
        let (sliding, metrics) = (self.0.clone(), metrics.clone());
        tokio::spawn(async move {
            let sent = tokio::time::timeout(OPERATION_TIMEOUT, slide.query_async::<()>(&mut conn)).await;
            sliding.lock().expect("not poisoned").remove(&session_key);
            if !matches!(sent, Ok(Ok(()))) {
                metrics.redis_errors.inc();
                tracing::debug!("sliding a session's idle expiry failed or timed out; the next read retries");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const NOW: u64 = 1_000_000;

    #[test]
    fn a_session_read_within_a_minute_of_its_last_slide_is_not_slid_again() {
        let ttl = (3600 - 59) * 1000;
        assert!(!slide_due(ttl, HOUR, NOW + 86_400, NOW));
    }

    #[test]
    fn a_session_read_more_than_a_minute_after_its_last_slide_is_slid() {
        let ttl = (3600 - 61) * 1000;
        assert!(slide_due(ttl, HOUR, NOW + 86_400, NOW));
    }

    #[test]
    fn a_session_in_its_last_idle_period_is_not_slid_towards_its_absolute_end() {
        // The key already expires at the absolute end, which comes before the idle timeout.
        assert!(!slide_due(600 * 1000, HOUR, NOW + 600, NOW));
    }

    #[test]
    fn a_short_idle_timeout_slides_after_a_quarter_of_it() {
        let idle = Duration::from_secs(8);
        assert_eq!(slide_interval(idle), Duration::from_secs(2));
        assert!(!slide_due(6500, idle, NOW + 3600, NOW));
        assert!(slide_due(5500, idle, NOW + 3600, NOW));
    }

    #[test]
    fn a_key_without_expiry_is_slid_and_a_vanished_one_is_not() {
        assert!(slide_due(-1, HOUR, NOW + 86_400, NOW));
        assert!(!slide_due(-2, HOUR, NOW + 86_400, NOW));
    }
}
