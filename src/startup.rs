//! The application: both listeners, the store, the provider and its background task.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::http;
pub use crate::http::ConnectionTimeouts;
use crate::oidc::client::{self, HttpClientError, HttpProvider};
use crate::service::revocation::{self, RevocationWorker};
use crate::service::Service;
use crate::session::redis::SetupError;
use crate::session::{open_store, SessionStore, StoreError};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::Traces;
use crate::util::error_chain;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr} ({var})")]
    Bind {
        addr: SocketAddr,
        var: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    HttpClient(#[from] HttpClientError),
    #[error("the Redis configuration ({var}) is not usable")]
    Redis {
        var: &'static str,
        #[source]
        source: SetupError,
    },
    #[error(
        "Redis presents a TLS certificate that is not trusted: put the CA that signed it in \
         OIDC_EXTRA_CA_FILE, or check the host name in {var}"
    )]
    RedisCertificate {
        var: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("Redis refuses the credentials: fix {var}")]
    RedisAuth {
        var: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("a listener failed")]
    Serve(#[source] std::io::Error),
}

impl StartupError {
    /// Whether the configuration must change (exit status 2), rather than the moment.
    pub fn is_configuration(&self) -> bool {
        !matches!(self, Self::Bind { .. } | Self::Serve(_))
    }
}

pub struct Application {
    service: Arc<Service>,
    http: http::Http,
    provider: Arc<HttpProvider>,
    store: Arc<dyn SessionStore>,
    revocations: RevocationWorker,
    redis_vars: &'static str,
    public: TcpListener,
    internal: TcpListener,
    timeouts: ConnectionTimeouts,
    max_connections: usize,
    /// The trace exporter, flushed after the drain.
    traces: Traces,
}

/// Aborts a background task when dropped, so that no path out of [`Application::run`]
/// leaves it running.
struct Owned<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Application {
    /// Binds both listeners (port 0 picks a free port; see [`Application::public_port`]).
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let bind =
            |addr: SocketAddr, var| TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, var, source });
        let public = bind(settings.listen_addr, "OIDC_LISTEN_ADDR")?;
        let internal = bind(settings.internal_listen_addr, "OIDC_INTERNAL_LISTEN_ADDR")?;
        Self::with_listeners(settings, public, internal)
    }

    /// Uses listeners bound by the caller (tests that must know the port before the settings).
    pub fn with_listeners(
        settings: Settings,
        public: TcpListener,
        internal: TcpListener,
    ) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let http_client = client::http_client(&settings.provider)?;
        let metrics = Arc::new(Metrics::new());
        let provider = Arc::new(HttpProvider::new(
            settings.provider.clone(),
            http_client,
            metrics.clone(),
        ));
        let store = open_store(&settings.store(), metrics.clone()).map_err(|source| StartupError::Redis {
            var: settings.redis.mode.vars(),
            source,
        })?;
        let (revoker, revocations) = revocation::channel(provider.clone(), settings.provider.http_timeout);
        let redis_vars = settings.redis.mode.vars();
        let service = Arc::new(Service::new(
            settings.clone(),
            provider.clone(),
            store.clone(),
            revoker,
            metrics,
        ));
        Ok(Self {
            http: http::Http::new(service.clone(), &settings),
            service,
            provider,
            store,
            revocations,
            redis_vars,
            public,
            internal,
            timeouts: ConnectionTimeouts::default(),
            max_connections: settings.max_connections,
            traces: Traces::default(),
        })
    }

    /// Hands over the telemetry installed at start, so that the spans of the last requests
    /// are exported once they have drained.
    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = traces;
        self
    }

    /// Other connection timeouts than the defaults (tests that cannot wait for those).
    pub fn with_connection_timeouts(mut self, timeouts: ConnectionTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// One ping at start: wrong Redis credentials or an untrusted TLS certificate are
    /// configuration errors worth stopping for; an unreachable Redis is not (the service
    /// recovers when it comes up).
    pub async fn verify_store(&self) -> Result<(), StartupError> {
        match self.store.ping().await {
            Ok(()) => Ok(()),
            Err(source @ StoreError::UntrustedCertificate(_)) => Err(StartupError::RedisCertificate {
                var: self.redis_vars,
                source,
            }),
            Err(source @ StoreError::Refused(_)) => Err(StartupError::RedisAuth {
                var: self.redis_vars,
                source,
            }),
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "Redis is not reachable yet; serving 503 until it is");
                Ok(())
            }
        }
    }

    pub fn public_port(&self) -> u16 {
        self.public.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn internal_port(&self) -> u16 {
        self.internal.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests
    /// (bounded) and stops the background discovery and key refresh.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StartupError> {
        let Self {
            service,
            http,
            provider,
            revocations,
            public,
            internal,
            timeouts,
            max_connections,
            traces,
            ..
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let listener = |l: TcpListener| -> Result<_, StartupError> {
            l.set_nonblocking(true).map_err(StartupError::Serve)?;
            tokio::net::TcpListener::from_std(l).map_err(StartupError::Serve)
        };
        let (public, internal) = (listener(public)?, listener(internal)?);
        // Discovery, then the scheduled re-fetch of metadata and keys; aborted on the way out.
        let _discovery = Owned(tokio::spawn(async move { provider.keep_current().await }));
        let revoking = tokio::spawn(revocations.run());
        let (limit, drain) = (max_connections, DRAIN_TIMEOUT);
        let public_server = http::serve::serve(public, http.public_routes(), timeouts, limit, stop_rx.clone(), drain);
        let internal_server = http::serve::serve(internal, http.internal_routes(), timeouts, limit, stop_rx, drain);
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = stop_tx.send(true);
        });
        drop(http);
        let (a, b) = tokio::join!(public_server, internal_server);
        // A refresh the provider has answered is stored (or revoked) before we stop.
        service.drain_refreshes(DRAIN_TIMEOUT).await;
        // The worker stops once the last handle to the service is gone; revocations still
        // queued get the drain's time to finish.
        drop(service);
        if tokio::time::timeout(DRAIN_TIMEOUT, revoking).await.is_err() {
            tracing::warn!("shutting down with refresh token revocations still in flight");
        }
        traces.shutdown().await;
        a.and(b).map_err(StartupError::Serve)
    }
}
