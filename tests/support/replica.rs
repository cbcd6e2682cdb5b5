//! Another instance of the service on its own listeners, beside a [`TestApp`]: replicas
//! share the provider and the store, as behind a load balancer.
//!
//! [`TestApp`]: crate::support::app::TestApp

use tokio::sync::oneshot;

use crate::support::app::{free_listener, start_service, wait_until_ready, CLIENT_ID};

/// Another instance of the service on its own listeners, sharing a provider and a store.
pub struct Replica {
    pub public: String,
    pub internal: String,
    _stop: oneshot::Sender<()>,
}

/// Starts a replica for `issuer`; `public` is the URL the provider redirects back to (the
/// replica does not need to be it). `env` adds or overrides variables.
pub async fn start_replica(issuer: &str, public: &str, redis_url: &str, env: &[(&str, &str)]) -> Replica {
    let (public_listener, internal_listener) = (free_listener(), free_listener());
    let replica_public = format!("http://127.0.0.1:{}", public_listener.local_addr().unwrap().port());
    let internal = format!("http://127.0.0.1:{}", internal_listener.local_addr().unwrap().port());
    let mut vars: Vec<(String, String)> = vec![
        ("OIDC_ISSUER_URL".into(), issuer.into()),
        ("OIDC_CLIENT_ID".into(), CLIENT_ID.into()),
        ("OIDC_REDIRECT_URI".into(), format!("{public}/auth/callback")),
        ("OIDC_REDIS_URL".into(), redis_url.into()),
        ("OIDC_LOG".into(), "error".into()),
    ];
    for (k, v) in env {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.to_string()));
    }
    let stop = start_service(vars, public_listener, internal_listener);
    wait_until_ready(&internal).await;
    Replica {
        public: replica_public,
        internal,
        _stop: stop,
    }
}
