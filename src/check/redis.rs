//! Redis: reachable, and accepting the credentials.

use crate::config::{RedisMode, Settings};
use crate::oidc::provider::error_chain;
use crate::session::redis::RedisStore;
use crate::session::SessionStore;
use crate::telemetry::metrics::Metrics;

use super::Report;

pub(super) async fn check_redis(settings: &Settings, report: &mut Report) {
    let store = match RedisStore::new(&settings.redis, std::sync::Arc::new(Metrics::new())) {
        Ok(store) => store,
        Err(e) => return report.problem(format!("{}: fix OIDC_REDIS_URL", error_chain(&e))),
    };
    match store.ping().await {
        Ok(()) => report.ok(match &settings.redis.mode {
            RedisMode::Standalone { .. } => "redis: standalone, reachable".to_owned(),
            RedisMode::Sentinel { master, .. } => format!("redis: sentinel, master `{master}` reached"),
            RedisMode::Cluster { .. } => "redis: cluster, reachable".to_owned(),
        }),
        Err(e) => {
            let text = error_chain(&e);
            let var = redis_vars(&settings.redis.mode);
            let hint = if is_auth_error(&text) {
                format!("Redis refuses the credentials: fix the user/password in {var}")
            } else {
                format!("Redis is unreachable: check {var}")
            };
            report.problem(format!("{text}: {hint}"));
        }
    }
}

/// The variables that configure the Redis connection in this mode.
pub fn redis_vars(mode: &RedisMode) -> &'static str {
    match mode {
        RedisMode::Standalone { .. } => "OIDC_REDIS_URL",
        RedisMode::Sentinel { .. } => "OIDC_REDIS_SENTINELS (data nodes) or OIDC_REDIS_SENTINEL_PASSWORD (sentinels)",
        RedisMode::Cluster { .. } => "OIDC_REDIS_CLUSTER_NODES",
    }
}

/// Redis said the credentials are wrong or missing (not merely unreachable).
pub fn is_auth_error(text: &str) -> bool {
    ["WRONGPASS", "NOAUTH", "NOPERM", "invalid password", "Authentication"]
        .iter()
        .any(|m| text.contains(m))
}
