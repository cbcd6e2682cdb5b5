//! Keeps the provider's metadata and signing keys current on a schedule: a key the
//! provider withdrew (after a compromise, say) stops being trusted within the hour, not at
//! the next restart. A failed refresh keeps the last good copy and is retried sooner.

use std::time::Duration;

use super::client::HttpProvider;
use crate::util::error_chain;

/// The longest a key set is used without asking again, and the default without `max-age`.
pub(crate) const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// The shortest interval honoured from `max-age` (providers often send `no-store` or a
/// few seconds; metadata and keys change far less often than that).
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(300);
/// After a failed refresh, the next attempt (the last good copy stays in use meanwhile).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// When to refresh next, given the key set's `Cache-Control: max-age`.
pub(crate) fn next_refresh(max_age: Option<Duration>) -> Duration {
    max_age.unwrap_or(MAX_REFRESH).clamp(MIN_REFRESH, MAX_REFRESH)
}

impl HttpProvider {
    /// Discovery until it succeeds, then a refresh of metadata and keys on schedule,
    /// forever: the caller owns the task and aborts it at shutdown.
    pub(crate) async fn keep_current(&self) {
        self.keep_current_on(next_refresh, RETRY_AFTER_FAILURE).await
    }

    /// [`Self::keep_current`] with the schedule given (tests cannot wait minutes).
    pub(crate) async fn keep_current_on(&self, schedule: fn(Option<Duration>) -> Duration, retry: Duration) {
        let mut wait = schedule(self.discover_until_ready().await);
        loop {
            tokio::time::sleep(wait).await;
            wait = match self.load().await {
                Ok(max_age) => {
                    tracing::debug!("provider metadata and keys refreshed");
                    schedule(max_age)
                }
                Err(e) => {
                    tracing::warn!(
                        error = %error_chain(e.as_ref()),
                        retry_in = ?retry,
                        "refreshing the provider's metadata and keys failed; keeping the last good copy"
                    );
                    retry
                }
            };
        }
    }
}

#[cfg(test)]
mod tests;
