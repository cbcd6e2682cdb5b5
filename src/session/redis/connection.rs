//! Connections for the three Redis modes behind one type. deadpool-redis is the factory
//! (bounded connection set-up; for Sentinel it asks the sentinels for the current master
//! every time). Each connection is taken out of its pool to be shared, so the pool's
//! health check on reuse never runs.

use std::time::Duration;

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{AsyncCommands, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use deadpool_redis::{
    cluster, sentinel, ConnectionAddr, ConnectionInfo, CreatePoolError, PoolConfig, PoolError, RedisConnectionInfo,
    Runtime,
};

use super::tls::Clients;
use crate::config::{RedisMode, Secret};

/// How long a command on a multiplexed connection may wait for its answer (sending it
/// included) before it fails with a timeout; set on every connection, so that the bound
/// does not rest on the redis crate's default.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

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

impl Conn {
    /// Whether each key exists, in order. On one node, one pipeline: one round trip however
    /// many keys. In Cluster the keys lie in different hash slots, which one pipeline cannot
    /// span (the cluster client refuses it as cross-slot, and a multi-key `EXISTS` only
    /// sums), so one `EXISTS` each, sent together and routed by slot.
    pub(crate) async fn exists_each(self, keys: Vec<String>) -> RedisResult<Vec<bool>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Multiplexed(mut c) => {
                let mut pipe = deadpool_redis::redis::pipe();
                for key in &keys {
                    pipe.exists(key);
                }
                pipe.query_async(&mut c).await
            }
            Self::Cluster(c) => {
                let checks = keys.into_iter().map(|key| {
                    let mut c = c.clone();
                    async move { c.exists::<_, bool>(key).await }
                });
                futures_util::future::try_join_all(checks).await
            }
        }
    }
}

/// How to reach each sentinel: over TLS when the data nodes are (`rediss://`), so the
/// Sentinel password never travels in clear where the data nodes' would not. Built as
/// values, not URLs, so a password needs no escaping.
fn sentinel_connections(sentinels: &[(String, u16)], password: Option<&Secret>, tls: bool) -> Vec<ConnectionInfo> {
    sentinels
        .iter()
        .map(|(host, port)| ConnectionInfo {
            addr: match tls {
                true => ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                },
                false => ConnectionAddr::Tcp(host.clone(), *port),
            },
            redis: RedisConnectionInfo {
                password: password.map(|pw| pw.expose().to_owned()),
                ..Default::default()
            },
        })
        .collect()
}

pub(crate) enum Factory {
    Standalone(deadpool_redis::Pool),
    Sentinel(sentinel::Pool),
    Cluster(cluster::Pool),
    /// `rediss://` with `OIDC_EXTRA_CA_FILE` (see [`super::tls`]).
    Trusting(Box<Clients>),
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
                let config = sentinel::Config {
                    urls: None,
                    server_type: sentinel::SentinelServerType::Master,
                    master_name: master.clone(),
                    connections: Some(sentinel_connections(sentinels, sentinel_password.as_ref(), *tls)),
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
        let mut conn = match self {
            Self::Standalone(pool) => Conn::Multiplexed(deadpool_redis::Connection::take(pool.get().await?)),
            Self::Sentinel(pool) => Conn::Multiplexed(sentinel::Connection::take(pool.get().await?)),
            Self::Cluster(pool) => Conn::Cluster(cluster::Connection::take(pool.get().await?)),
            Self::Trusting(clients) => trusting(clients).await.map_err(PoolError::Backend)?,
        };
        if let Conn::Multiplexed(c) = &mut conn {
            c.set_response_timeout(COMMAND_TIMEOUT);
        }
        Ok(conn)
    }
}

/// A connection from the redis crate's own clients, which carry the extra CA.
async fn trusting(clients: &Clients) -> RedisResult<Conn> {
    Ok(match clients {
        Clients::Standalone(client) => Conn::Multiplexed(client.get_multiplexed_async_connection().await?),
        Clients::Sentinel(client) => Conn::Multiplexed(client.lock().await.get_async_connection().await?),
        Clients::Cluster(client) => Conn::Cluster(client.get_async_connection().await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinels() -> Vec<(String, u16)> {
        vec![("sentinel-0".into(), 26379), ("::1".into(), 26380)]
    }

    #[test]
    fn sentinels_are_reached_over_tls_when_the_data_nodes_are() {
        let password = Secret::new("p@ss/word".into());
        let connections = sentinel_connections(&sentinels(), Some(&password), true);
        assert_eq!(connections.len(), 2);
        for (info, (host, port)) in connections.iter().zip(sentinels()) {
            assert!(
                matches!(&info.addr, ConnectionAddr::TcpTls { host: h, port: p, insecure: false } if *h == host && *p == port),
                "{:?}",
                info.addr
            );
            assert_eq!(info.redis.password.as_deref(), Some("p@ss/word"));
        }
    }

    #[test]
    fn sentinels_are_reached_in_clear_when_the_data_nodes_are() {
        let connections = sentinel_connections(&sentinels(), None, false);
        assert!(matches!(&connections[0].addr, ConnectionAddr::Tcp(h, 26379) if h == "sentinel-0"));
        assert!(matches!(&connections[1].addr, ConnectionAddr::Tcp(h, 26380) if h == "::1"));
        assert_eq!(connections[0].redis.password, None);
    }
}
