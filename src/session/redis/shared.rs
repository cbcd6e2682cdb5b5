//! The one connection every request shares: opened on first use, dropped when it fails so
//! that the next request opens another (a Redis restart or failover heals by itself), and
//! each operation on it bounded in time.

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
    current: Mutex<Option<Conn>>,
    metrics: Arc<Metrics>,
}

impl Shared {
    pub(super) fn new(factory: Factory, metrics: Arc<Metrics>) -> Self {
        Self {
            factory,
            current: Mutex::new(None),
            metrics,
        }
    }

    /// The open connection, if there is one.
    pub(super) fn current(&self) -> Option<Conn> {
        self.current.lock().expect("not poisoned").clone()
    }

    async fn connection(&self) -> Result<Conn, StoreError> {
        if let Some(conn) = self.current.lock().expect("not poisoned").clone() {
            return Ok(conn);
        }
        let conn = self.factory.connect().await.map_err(pool_error)?;
        *self.current.lock().expect("not poisoned") = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one operation on the shared connection, bounded in time; a broken
    /// connection is dropped so that the next call reconnects.
    pub(super) async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let shared = self.current.lock().expect("not poisoned").clone();
        let result = match shared {
            // A multiplexed connection bounds each of its commands itself
            // (`connection::COMMAND_TIMEOUT`): a second timer would cost every request a
            // timer-wheel entry and clock reads, and bound nothing more.
            Some(conn @ Conn::Multiplexed(_)) => self.on(conn, op).await,
            shared => {
                let attempt = async {
                    let conn = match shared {
                        Some(conn) => conn,
                        None => self.connection().await?,
                    };
                    self.on(conn, op).await
                };
                match tokio::time::timeout(OPERATION_TIMEOUT, attempt).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.current.lock().expect("not poisoned").take();
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

    /// `op` on `conn`; a connection that failed is dropped for the next call to replace.
    async fn on<T, F, Fut>(&self, conn: Conn, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        op(conn).await.map_err(|e| {
            // READONLY: a failover demoted the node we talk to; MASTERDOWN likewise.
            // Reconnecting asks the sentinels (or the cluster) for the master again.
            let demoted = matches!(e.code(), Some("READONLY" | "MASTERDOWN"));
            if demoted || e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
                self.current.lock().expect("not poisoned").take();
            }
            if e.is_timeout() {
                return StoreError::Timeout(connection::COMMAND_TIMEOUT);
            }
            store_error(e)
        })
    }
}
