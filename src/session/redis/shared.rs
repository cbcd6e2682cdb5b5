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

/// What [`Shared`] needs of its connections, apart from Redis so that how a connection is
/// shared and replaced is tested on its own.
pub(super) trait Connect {
    type Conn: Clone;

    fn connect(&self) -> impl std::future::Future<Output = Result<Self::Conn, deadpool_redis::PoolError>> + Send;

    /// The connection bounds each of its commands itself, so no timer is needed around one.
    fn bounds_its_commands(conn: &Self::Conn) -> bool;
}

impl Connect for Factory {
    type Conn = Conn;

    fn connect(&self) -> impl std::future::Future<Output = Result<Conn, deadpool_redis::PoolError>> + Send {
        Factory::connect(self)
    }

    /// A multiplexed connection does (`connection::COMMAND_TIMEOUT`); the cluster client
    /// does not.
    fn bounds_its_commands(conn: &Conn) -> bool {
        matches!(conn, Conn::Multiplexed(_))
    }
}

pub(super) struct Shared<C: Connect = Factory> {
    connector: C,
    current: Mutex<Option<Current<C::Conn>>>,
    /// Held while a connection is opened: requests that find none wait for that one.
    connecting: tokio::sync::Mutex<()>,
    opened: AtomicU64,
    metrics: Arc<Metrics>,
}

/// The shared connection and which one it is: a failure on a connection already replaced
/// must not drop its replacement.
#[derive(Clone)]
struct Current<T> {
    id: u64,
    conn: T,
}

impl<C: Connect> Shared<C> {
    pub(super) fn new(connector: C, metrics: Arc<Metrics>) -> Self {
        Self {
            connector,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            opened: AtomicU64::new(0),
            metrics,
        }
    }

    /// The open connection, if there is one.
    pub(super) fn current(&self) -> Option<C::Conn> {
        self.entry().map(|current| current.conn)
    }

    fn entry(&self) -> Option<Current<C::Conn>> {
        self.current.lock().expect("not poisoned").clone()
    }

    /// The open connection, or a new one. One request opens it while those that need it at
    /// the same moment wait and share it: after a restart, a burst of requests replaces the
    /// connection once, not once each.
    async fn connection(&self) -> Result<Current<C::Conn>, StoreError> {
        if let Some(current) = self.entry() {
            return Ok(current);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(current) = self.entry() {
            return Ok(current);
        }
        let conn = self.connector.connect().await.map_err(pool_error)?;
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
        F: FnOnce(C::Conn) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let shared = self.entry();
        let result = match shared {
            // A connection that bounds each of its commands itself (a multiplexed one:
            // `connection::COMMAND_TIMEOUT`): a second timer would cost every request a
            // timer-wheel entry and clock reads, and bound nothing more.
            Some(current) if C::bounds_its_commands(&current.conn) => self.on(current, op).await,
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
    async fn on<T, F, Fut>(&self, current: Current<C::Conn>, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(C::Conn) -> Fut,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections that are their number: the first opened is 0. `BOUNDED`: whether they
    /// bound their commands themselves (as multiplexed ones do) or need the store's timer
    /// (as the cluster client's do).
    #[derive(Default)]
    struct Numbered<const BOUNDED: bool>(AtomicU64);

    impl<const BOUNDED: bool> Connect for Numbered<BOUNDED> {
        type Conn = u64;

        fn connect(&self) -> impl std::future::Future<Output = Result<u64, deadpool_redis::PoolError>> + Send {
            let number = self.0.fetch_add(1, Ordering::Relaxed);
            async move { Ok(number) }
        }

        fn bounds_its_commands(_: &u64) -> bool {
            BOUNDED
        }
    }

    fn broken() -> RedisError {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the connection broke").into()
    }

    async fn used<const BOUNDED: bool>(shared: &Shared<Numbered<BOUNDED>>) -> u64 {
        shared
            .run(|conn| async move { Ok::<_, RedisError>(conn) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_broken_connection_is_replaced_by_the_next_command() {
        let shared = Shared::new(Numbered::<true>::default(), Arc::new(Metrics::new()));
        assert_eq!(used(&shared).await, 0);
        assert_eq!(
            used(&shared).await,
            0,
            "the connection is shared, not opened per command"
        );
        assert!(shared.run(|_| async { Err::<(), _>(broken()) }).await.is_err());
        assert_eq!(used(&shared).await, 1);
    }

    #[tokio::test]
    async fn a_failure_on_a_connection_already_replaced_leaves_its_replacement_in_place() {
        let shared = Arc::new(Shared::new(Numbered::<true>::default(), Arc::new(Metrics::new())));
        assert_eq!(used(&shared).await, 0);

        // A command that is slow on connection 0, and fails only after it is replaced.
        let (started, on_first) = tokio::sync::oneshot::channel();
        let (fail, failed) = tokio::sync::oneshot::channel::<()>();
        let slow = tokio::spawn({
            let shared = shared.clone();
            async move {
                shared
                    .run(|conn| async move {
                        started.send(conn).unwrap();
                        let _ = failed.await;
                        Err::<(), _>(broken())
                    })
                    .await
            }
        });
        assert_eq!(on_first.await.unwrap(), 0);
        // Another command finds connection 0 broken: it is dropped, and the next replaces it.
        assert!(shared.run(|_| async { Err::<(), _>(broken()) }).await.is_err());
        assert_eq!(used(&shared).await, 1);

        // The slow command's failure is about connection 0, not 1.
        fail.send(()).unwrap();
        assert!(slow.await.unwrap().is_err());
        assert_eq!(
            used(&shared).await,
            1,
            "the replacement was dropped and a third connection opened"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_command_on_a_connection_without_its_own_bound_times_out_and_the_connection_is_replaced() {
        let shared = Shared::new(Numbered::<false>::default(), Arc::new(Metrics::new()));
        assert_eq!(used(&shared).await, 0);
        let stalled = shared.run(|_| std::future::pending::<Result<(), RedisError>>()).await;
        assert!(
            matches!(stalled, Err(StoreError::Timeout(t)) if t == OPERATION_TIMEOUT),
            "{stalled:?}"
        );
        assert_eq!(shared.metrics.redis_errors.get(), 1);
        assert_eq!(used(&shared).await, 1, "the connection that did not answer was dropped");
    }

    /// Connections that take a while to open, as over a network.
    #[derive(Default)]
    struct Slow(AtomicU64);

    impl Connect for Slow {
        type Conn = u64;

        fn connect(&self) -> impl std::future::Future<Output = Result<u64, deadpool_redis::PoolError>> + Send {
            let number = self.0.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(number)
            }
        }

        fn bounds_its_commands(_: &u64) -> bool {
            true
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_find_no_connection_at_the_same_moment_open_one_and_share_it() {
        let shared = Shared::new(Slow::default(), Arc::new(Metrics::new()));
        let requests = (0..32).map(|_| shared.run(|conn| async move { Ok::<_, RedisError>(conn) }));
        let used: Vec<u64> = futures_util::future::try_join_all(requests).await.unwrap();
        assert!(used.iter().all(|&conn| conn == 0), "{used:?}");
        assert_eq!(shared.connector.0.load(Ordering::Relaxed), 1, "connections opened");
    }
}
