//! The one connection every request shares: opened on first use, dropped when it fails so
//! that the next request opens another (a Redis restart or failover heals by itself), and
//! each operation on it bounded in time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::RedisError;

use super::connection::{self, Conn, Factory};
use super::tls;
use crate::session::store::StoreError;
use crate::telemetry::metrics::Metrics;

/// Every store call answers within this bound, or fails with [`StoreError::Timeout`]
/// (a command on a connection already open: within `connection::COMMAND_TIMEOUT`).
pub(super) const OPERATION_TIMEOUT: Duration = Duration::from_secs(2);

/// Redis refuses who we are (wrong or missing password, or an ACL that forbids a
/// command or key): told apart from an outage by the error's kind, not its text.
fn refuses_credentials(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

fn store_error(e: RedisError) -> StoreError {
    if refuses_credentials(&e) {
        StoreError::Refused(Box::new(e))
    } else if tls::untrusted_certificate(&e) {
        StoreError::UntrustedCertificate(Box::new(e))
    } else {
        StoreError::Unavailable(Box::new(e))
    }
}

fn pool_error(e: deadpool_redis::PoolError) -> StoreError {
    match e {
        deadpool_redis::PoolError::Backend(e) => store_error(e),
        other if tls::untrusted_certificate(&other) => StoreError::UntrustedCertificate(Box::new(other)),
        other => StoreError::Unavailable(Box::new(other)),
    }
}

pub(super) struct Shared {
    factory: Factory,
    current: Mutex<Option<Current>>,
    /// Held while a connection is opened: requests that find none wait for that one.
    connecting: tokio::sync::Mutex<()>,
    opened: AtomicU64,
    metrics: Arc<Metrics>,
}

/// The shared connection and which one it is: a failure on a connection already replaced
/// must not drop its replacement.
#[derive(Clone)]
struct Current {
    id: u64,
    conn: Conn,
}

impl Shared {
    pub(super) fn new(factory: Factory, metrics: Arc<Metrics>) -> Self {
        Self {
            factory,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            opened: AtomicU64::new(0),
            metrics,
        }
    }

    /// The open connection, if there is one.
    pub(super) fn current(&self) -> Option<Conn> {
        self.entry().map(|current| current.conn)
    }

    fn entry(&self) -> Option<Current> {
        self.current.lock().expect("not poisoned").clone()
    }

    /// The open connection, or a new one. One request opens it while those that need it at
    /// the same moment wait and share it: after a restart, a burst of requests replaces the
    /// connection once, not once each.
    async fn connection(&self) -> Result<Current, StoreError> {
        if let Some(current) = self.entry() {
            return Ok(current);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(current) = self.entry() {
            return Ok(current);
        }
        let conn = self.factory.connect().await.map_err(pool_error)?;
        let current = Current {
            id: self.opened.fetch_add(1, Ordering::Relaxed),
            conn,
        };
        *self.current.lock().expect("not poisoned") = Some(current.clone());
        Ok(current)
    }

    /// Drops connection `id` if it is still the shared one, for the next call to replace.
    fn forget(&self, id: u64) {
        let mut current = self.current.lock().expect("not poisoned");
        if current.as_ref().is_some_and(|c| c.id == id) {
            *current = None;
        }
    }

    /// Runs one operation on the shared connection, bounded in time; a broken
    /// connection is dropped so that the next call reconnects.
    pub(super) async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let shared = self.entry();
        let result = match shared {
            // A multiplexed connection bounds each of its commands itself
            // (`connection::COMMAND_TIMEOUT`): a second timer would cost every request a
            // timer-wheel entry and clock reads, and bound nothing more.
            Some(
                current @ Current {
                    conn: Conn::Multiplexed(_),
                    ..
                },
            ) => self.on(current, op).await,
            shared => {
                // Which connection the attempt used, once it has one (`u64::MAX`: none yet).
                let used = AtomicU64::new(shared.as_ref().map_or(u64::MAX, |c| c.id));
                let attempt = async {
                    let current = match shared {
                        Some(current) => current,
                        // Boxed: connecting is rare, and its future (the lock, the
                        // connection's set-up) would otherwise enlarge every command's.
                        None => Box::pin(self.connection()).await?,
                    };
                    used.store(current.id, Ordering::Relaxed);
                    self.on(current, op).await
                };
                match tokio::time::timeout(OPERATION_TIMEOUT, attempt).await {
                    Ok(result) => result,
                    Err(_) => {
                        // A connection that did not answer in time is dropped; an attempt
                        // that timed out connecting has none to drop.
                        self.forget(used.load(Ordering::Relaxed));
                        Err(StoreError::Timeout(OPERATION_TIMEOUT))
                    }
                }
            }
        };
        if result.is_err() {
            self.metrics.redis_errors.inc();
        }
        result
    }

    /// `op` on the connection; one that failed is dropped for the next call to replace.
    async fn on<T, F, Fut>(&self, current: Current, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        op(current.conn).await.map_err(|e| {
            // READONLY: a failover demoted the node we talk to; MASTERDOWN likewise.
            // Reconnecting asks the sentinels (or the cluster) for the master again.
            let demoted = matches!(e.code(), Some("READONLY" | "MASTERDOWN"));
            if demoted || e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
                self.forget(current.id);
            }
            if e.is_timeout() {
                return StoreError::Timeout(connection::COMMAND_TIMEOUT);
            }
            store_error(e)
        })
    }
}
