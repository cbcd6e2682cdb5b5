//! The Redis connection: exactly one of standalone, Sentinel or Cluster.

use url::Url;

use super::{Problems, Secret};

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub mode: RedisMode,
    pub key_prefix: String,
}

#[derive(Debug, Clone)]
pub enum RedisMode {
    /// `OIDC_REDIS_URL`: one server, `redis://` or `rediss://`.
    Standalone { url: Secret },
    /// `OIDC_REDIS_SENTINELS` + `OIDC_REDIS_SENTINEL_MASTER`.
    Sentinel {
        /// Host and port of each sentinel.
        sentinels: Vec<(String, u16)>,
        master: String,
        sentinel_password: Option<Secret>,
        /// Credentials and database for the data nodes (from a `redis://` entry).
        node_username: Option<String>,
        node_password: Option<Secret>,
        db: i64,
        /// `rediss://`: the data nodes and the sentinels are reached over TLS.
        tls: bool,
    },
    /// `OIDC_REDIS_CLUSTER_NODES`: seed node URLs.
    Cluster { nodes: Vec<Secret> },
}

impl RedisMode {
    /// The variables that configure the connection in this mode, for error messages.
    pub fn vars(&self) -> &'static str {
        match self {
            Self::Standalone { .. } => "OIDC_REDIS_URL",
            Self::Sentinel { .. } => "OIDC_REDIS_SENTINELS (data nodes) or OIDC_REDIS_SENTINEL_PASSWORD (sentinels)",
            Self::Cluster { .. } => "OIDC_REDIS_CLUSTER_NODES",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Standalone { .. } => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }
}

/// The raw Redis variables.
pub(super) struct RawRedis<'a> {
    pub url: Option<&'a str>,
    pub sentinels: Option<&'a str>,
    pub master: Option<&'a str>,
    pub sentinel_password: Option<&'a str>,
    pub cluster_nodes: Option<&'a str>,
}

fn set(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

fn redis_url(v: &str) -> Result<Url, String> {
    match Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => Ok(u),
        // Never echo the value: it may hold a password.
        _ => Err("is not a redis:// or rediss:// URL".into()),
    }
}

pub(super) fn parse(raw: RawRedis<'_>, p: &mut Problems) -> Option<RedisMode> {
    let sentinel = set(raw.sentinels).is_some() || set(raw.master).is_some() || set(raw.sentinel_password).is_some();
    let chosen = [set(raw.url).is_some(), sentinel, set(raw.cluster_nodes).is_some()];
    if chosen.iter().filter(|m| **m).count() > 1 {
        p.push(
            "OIDC_REDIS_URL",
            "only one of OIDC_REDIS_URL, OIDC_REDIS_SENTINELS and OIDC_REDIS_CLUSTER_NODES may be set",
        );
        return None;
    }
    if sentinel {
        return parse_sentinel(&raw, p);
    }
    if let Some(nodes) = set(raw.cluster_nodes) {
        let nodes: Vec<&str> = nodes.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        let bad = nodes.iter().filter(|n| redis_url(n).is_err()).count();
        if nodes.is_empty() || bad > 0 {
            p.push(
                "OIDC_REDIS_CLUSTER_NODES",
                "must be comma-separated redis:// or rediss:// URLs; for example OIDC_REDIS_CLUSTER_NODES=redis://redis-0:6379,redis://redis-1:6379",
            );
            return None;
        }
        return Some(RedisMode::Cluster {
            nodes: nodes.into_iter().map(|n| Secret::new(n.to_owned())).collect(),
        });
    }
    p.or_default("OIDC_REDIS_URL", raw.url, "redis://127.0.0.1:6379", |v| {
        redis_url(v).map(|_| Secret::new(v.to_owned()))
    })
    .map(|url| RedisMode::Standalone { url })
}

fn parse_sentinel(raw: &RawRedis<'_>, p: &mut Problems) -> Option<RedisMode> {
    let Some(master) = set(raw.master) else {
        p.push(
            "OIDC_REDIS_SENTINEL_MASTER",
            "is required with OIDC_REDIS_SENTINELS; for example OIDC_REDIS_SENTINEL_MASTER=mymaster",
        );
        return None;
    };
    let Some(list) = set(raw.sentinels) else {
        p.push(
            "OIDC_REDIS_SENTINELS",
            "is required in Sentinel mode; for example OIDC_REDIS_SENTINELS=sentinel-0:26379,sentinel-1:26379",
        );
        return None;
    };
    let mut sentinels = Vec::new();
    let (mut node_username, mut node_password, mut db, mut tls) = (None, None, 0, false);
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // `host:port`, or a URL whose user, password, database and scheme apply to the data nodes.
        let url = if item.contains("://") {
            redis_url(item).ok()
        } else {
            Url::parse(&format!("redis://{item}")).ok()
        };
        match url.as_ref().and_then(|u| Some((host_of(u)?, u.port()?))) {
            Some(address) => sentinels.push(address),
            None => {
                p.push(
                    "OIDC_REDIS_SENTINELS",
                    "each entry must be host:port (or a redis:// URL with a port); for example sentinel-0:26379",
                );
                return None;
            }
        }
        let url = url.expect("parsed above");
        if item.contains("://") && node_password.is_none() && node_username.is_none() {
            node_username = Some(decoded(url.username())).filter(|u| !u.is_empty());
            node_password = url.password().map(|pw| Secret::new(decoded(pw)));
            db = url.path().trim_start_matches('/').parse().unwrap_or(0);
            tls = url.scheme() == "rediss";
        }
    }
    Some(RedisMode::Sentinel {
        sentinels,
        master: master.to_owned(),
        sentinel_password: set(raw.sentinel_password).map(|s| Secret::new(s.to_owned())),
        node_username,
        node_password,
        db,
        tls,
    })
}

/// A URL's host as a resolver takes it: an IPv6 address without its brackets.
fn host_of(url: &Url) -> Option<String> {
    Some(match url.host()? {
        url::Host::Domain(name) => name.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    })
}

/// A URL's user or password as Redis expects it: `p%40ss` in the URL is `p@ss`.
fn decoded(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}
