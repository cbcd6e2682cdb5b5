//! Connections for the three Redis modes behind one type. deadpool-redis is the factory
//! (bounded connection set-up, a health check on each fresh connection; for Sentinel it
//! asks the sentinels for the current master every time).

use std::time::Duration;

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{Cmd, Pipeline, RedisFuture, Value};
use deadpool_redis::{cluster, sentinel, CreatePoolError, PoolConfig, PoolError, RedisConnectionInfo, Runtime};

use crate::config::RedisMode;

/// One connection that many requests share: multiplexed for standalone and Sentinel,
/// the cluster client's connection (which routes by slot and follows MOVED/ASK) for Cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Multiplexed(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Multiplexed(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

pub(crate) enum Factory {
    Standalone(deadpool_redis::Pool),
    Sentinel(sentinel::Pool),
    Cluster(cluster::Pool),
    /// `rediss://` with `OIDC_EXTRA_CA_FILE` (see [`super::tls`]).
    Trusting(Box<super::tls::Clients>),
}

impl Factory {
    pub(crate) fn new(mode: &RedisMode, timeout: Duration) -> Result<Self, CreatePoolError> {
        let mut pool = PoolConfig::new(4);
        pool.timeouts.wait = Some(timeout);
        pool.timeouts.create = Some(timeout);
        pool.timeouts.recycle = Some(timeout);
        let runtime = Some(Runtime::Tokio1);
        Ok(match mode {
            RedisMode::Standalone { url } => {
                let mut config = deadpool_redis::Config::from_url(url.expose());
                config.pool = Some(pool);
                Self::Standalone(config.create_pool(runtime)?)
            }
            RedisMode::Sentinel {
                sentinels,
                master,
                sentinel_password,
                node_username,
                node_password,
                db,
                tls,
            } => {
                let auth = sentinel_password
                    .as_ref()
                    .map(|pw| format!(":{}@", pw.expose()))
                    .unwrap_or_default();
                let config = sentinel::Config {
                    urls: Some(sentinels.iter().map(|s| format!("redis://{auth}{s}")).collect()),
                    server_type: sentinel::SentinelServerType::Master,
                    master_name: master.clone(),
                    connections: None,
                    node_connection_info: Some(sentinel::SentinelNodeConnectionInfo {
                        tls_mode: tls.then_some(sentinel::TlsMode::Secure),
                        redis_connection_info: Some(RedisConnectionInfo {
                            db: *db,
                            username: node_username.clone(),
                            password: node_password.as_ref().map(|p| p.expose().to_owned()),
                            protocol: Default::default(),
                        }),
                    }),
                    pool: Some(pool),
                };
                Self::Sentinel(config.create_pool(runtime)?)
            }
            RedisMode::Cluster { nodes } => {
                let mut config =
                    cluster::Config::from_urls(nodes.iter().map(|n| n.expose().to_owned()).collect::<Vec<_>>());
                config.pool = Some(pool);
                Self::Cluster(config.create_pool(runtime)?)
            }
        })
    }

    /// A fresh connection, taken out of the pool to be shared.
    pub(crate) async fn connect(&self) -> Result<Conn, PoolError> {
        Ok(match self {
            Self::Standalone(pool) => Conn::Multiplexed(deadpool_redis::Connection::take(pool.get().await?)),
            Self::Sentinel(pool) => Conn::Multiplexed(sentinel::Connection::take(pool.get().await?)),
            Self::Cluster(pool) => Conn::Cluster(cluster::Connection::take(pool.get().await?)),
            Self::Trusting(clients) => clients.connect().await.map_err(PoolError::Backend)?,
        })
    }
}
