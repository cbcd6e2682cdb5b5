//! Revoking refresh tokens at the provider (RFC 7009) off the request path.
//!
//! A logout must not wait for, or fail with, the provider's revocation endpoint: the
//! session ends in the store at once, and its refresh token joins a bounded queue that a
//! background worker drains with bounded concurrency. A full queue or a failed revocation
//! is logged (and counted), never silent. The worker is owned by the application and
//! drained at shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

use crate::oidc::login::TokenError;
use crate::oidc::provider::OpenIdProvider;
use crate::util::error_chain;

/// Refresh tokens waiting for revocation; beyond this, new ones are logged and dropped.
const QUEUE: usize = 4096;
/// Revocations in flight at once.
const CONCURRENCY: usize = 8;

struct Job {
    refresh_token: String,
    done: Option<oneshot::Sender<()>>,
}

/// The sending side, held by the service.
#[derive(Clone)]
pub(crate) struct Revoker {
    queue: mpsc::Sender<Job>,
}

/// The receiving side: run it with [`RevocationWorker::run`] until shutdown.
pub(crate) struct RevocationWorker {
    queue: mpsc::Receiver<Job>,
    provider: Arc<dyn OpenIdProvider>,
    /// Each revocation's bound: `OIDC_HTTP_TIMEOUT` and a little more.
    limit: Duration,
}

pub(crate) fn channel(provider: Arc<dyn OpenIdProvider>, http_timeout: Duration) -> (Revoker, RevocationWorker) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let limit = http_timeout.saturating_add(Duration::from_secs(1));
    (
        Revoker { queue: tx },
        RevocationWorker {
            queue: rx,
            provider,
            limit,
        },
    )
}

impl Revoker {
    /// Queues a revocation and returns at once.
    pub(crate) fn revoke_later(&self, refresh_token: String) {
        self.enqueue(Job {
            refresh_token,
            done: None,
        });
    }

    /// Queues a revocation and waits (at most `limit`) until it has been tried, for
    /// RP-initiated logout, where the browser is about to leave and a prompt revocation is
    /// worth a short wait.
    pub(crate) async fn revoke_now(&self, refresh_token: String, limit: Duration) {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Job {
            refresh_token,
            done: Some(tx),
        });
        let _ = tokio::time::timeout(limit, rx).await;
    }

    fn enqueue(&self, job: Job) {
        if let Err(e) = self.queue.try_send(job) {
            tracing::warn!(reason = %e, "refresh token revocation dropped: queue full or stopped");
        }
    }
}

impl RevocationWorker {
    /// Revokes queued tokens until every [`Revoker`] is gone (the service has stopped),
    /// then finishes what is in flight.
    pub(crate) async fn run(mut self) {
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut running = JoinSet::new();
        while let Some(job) = self.queue.recv().await {
            let permit = permits.clone().acquire_owned().await.expect("never closed");
            let provider = self.provider.clone();
            let limit = self.limit;
            running.spawn(async move {
                revoke(provider.as_ref(), &job.refresh_token, limit).await;
                if let Some(done) = job.done {
                    let _ = done.send(());
                }
                drop(permit);
            });
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }
}

/// Bounded twice: by the HTTP client's timeout and by `limit`, in case a call hangs elsewhere.
async fn revoke(provider: &dyn OpenIdProvider, refresh_token: &str, limit: Duration) {
    match tokio::time::timeout(limit, provider.revoke(refresh_token)).await {
        Ok(Ok(())) => tracing::debug!("refresh token revoked (or the provider has no revocation endpoint)"),
        Ok(Err(TokenError::NotReady(_))) => tracing::warn!("refresh token not revoked: provider metadata not loaded"),
        Ok(Err(e)) => tracing::warn!(error = %error_chain(&e), "revoking the refresh token failed"),
        Err(_) => tracing::warn!("revoking the refresh token timed out"),
    }
}
