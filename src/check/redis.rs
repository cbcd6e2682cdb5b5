//! Redis: reachable, and accepting the credentials.

use crate::config::{RedisMode, Settings};
use crate::session::{open_store, StoreError};
use crate::telemetry::metrics::Metrics;
use crate::util::error_chain;

use super::Report;

pub(super) async fn check_redis(settings: &Settings, report: &mut Report) {
    let store = match open_store(&settings.store(), std::sync::Arc::new(Metrics::new())) {
        Ok(store) => store,
        Err(e) => return report.problem(format!("{}: fix {}", error_chain(&e), settings.redis.mode.vars())),
    };
    match store.ping().await {
        Ok(()) => report.ok(match &settings.redis.mode {
            RedisMode::Standalone { .. } => "redis: standalone, reachable".to_owned(),
            RedisMode::Sentinel { master, .. } => format!("redis: sentinel, master `{master}` reached"),
            RedisMode::Cluster { .. } => "redis: cluster, reachable".to_owned(),
        }),
        Err(e) => {
            let text = error_chain(&e);
            let var = settings.redis.mode.vars();
            let hint = if matches!(e, StoreError::Refused(_)) {
                format!("Redis refuses the credentials: fix the user/password in {var}")
            } else if matches!(e, StoreError::UntrustedCertificate(_)) {
                format!(
                    "Redis presents a TLS certificate that is not trusted: set OIDC_EXTRA_CA_FILE to the CA \
                     that signed it, or check the host name in {var}"
                )
            } else {
                format!("Redis is unreachable: check {var}")
            };
            report.problem(format!("{text}: {hint}"));
        }
    }
}
