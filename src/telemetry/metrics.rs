//! Prometheus metrics (prometheus-client). One [`Metrics`] per process, passed to whoever
//! records; no global registry.

use std::future::Future;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub listener: &'static str,
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub listener: &'static str,
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub logins: Family<OutcomeLabels, Counter>,
    pub refreshes: Family<KindLabels, Counter>,
    pub logouts: Family<KindLabels, Counter>,
    pub provider_seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    pub provider_errors: Family<EndpointLabels, Counter>,
    pub redis_errors: Counter,
    pub active_sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("oidc_session");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        let refreshes = Family::<KindLabels, Counter>::default();
        let logouts = Family::<KindLabels, Counter>::default();
        let provider_seconds = Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let provider_errors = Family::<EndpointLabels, Counter>::default();
        let redis_errors = Counter::default();
        let active_sessions = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by listener, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            request_seconds.clone(),
        );
        registry.register(
            "logins",
            "Logins started, completed and failed (by reason)",
            logins.clone(),
        );
        registry.register("refreshes", "Token refreshes by result", refreshes.clone());
        registry.register("logouts", "Logouts by kind", logouts.clone());
        registry.register(
            "provider_request_duration_seconds",
            "Calls to the OpenID Provider by endpoint",
            provider_seconds.clone(),
        );
        registry.register(
            "provider_errors",
            "Failed calls to the OpenID Provider by endpoint",
            provider_errors.clone(),
        );
        registry.register("redis_errors", "Failed Redis operations", redis_errors.clone());
        registry.register(
            "active_sessions",
            "Sessions not past their absolute end (approximate: idle-expired ones count until then)",
            active_sessions.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            logins,
            refreshes,
            logouts,
            provider_seconds,
            provider_errors,
            redis_errors,
            active_sessions,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    pub fn login(&self, outcome: &'static str, reason: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome, reason }).inc();
    }

    pub fn logout(&self, kind: &'static str) {
        self.logouts.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn refresh(&self, kind: &'static str) {
        self.refreshes.get_or_create(&KindLabels { kind }).inc();
    }

    /// Times a call to the provider and counts it as an error when it fails. The call runs
    /// in a CLIENT span (debug level: free unless traced), whose context the request
    /// carries out as `traceparent`.
    pub async fn provider_call<T, E>(
        &self,
        endpoint: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let span = tracing::debug_span!(
            "provider",
            otel.name = endpoint,
            otel.kind = "client",
            oidc.provider.endpoint = endpoint,
            otel.status_code = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        let labels = EndpointLabels { endpoint };
        self.provider_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            self.provider_errors.get_or_create(&labels).inc();
        }
        result
    }
}
