//! What every request passes through: a request id, one span, metrics, the body limit and
//! (public listener) `Cache-Control: no-store`.
//!
//! A plain [`Endpoint`] wrapper rather than a closure middleware: the hot routes are
//! wrapped one by one with their metric handles resolved once, so a request pays for no
//! label hashing, no route lookup and no extra boxed future (docs/PERFORMANCE.md).

use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use poem::http::{HeaderName, HeaderValue};
use poem::{Endpoint, IntoResponse, Request, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tracing::Instrument;

use crate::telemetry::metrics::{Metrics, RequestLabels, RouteLabels};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listener {
    Public,
    Internal,
}

impl Listener {
    fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
        }
    }

    fn routes(self) -> &'static [&'static str] {
        match self {
            Self::Public => &[
                "/auth/login",
                "/auth/callback",
                "/auth/me",
                "/auth/refresh",
                "/auth/logout",
                "/auth/backchannel-logout",
                "/auth/jwks.json",
                "/auth/sessions",
                "/auth/sessions/{id}",
            ],
            Self::Internal => &[
                "/introspect",
                "/forward-auth",
                "/healthz",
                "/readyz",
                "/metrics",
                "/openapi.json",
                "/.well-known/jwks.json",
                "/admin/sessions",
                "/admin/sessions/{id}",
            ],
        }
    }

    /// The route template for metrics and span names: a known path (`{id}` standing for one
    /// path segment), or `other` (bounded label values).
    fn route_of(self, path: &str) -> &'static str {
        let matches = |route: &str| match route.strip_suffix("/{id}") {
            Some(prefix) => path
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|id| !id.is_empty() && !id.contains('/')),
            None => route == path,
        };
        self.routes().iter().find(|r| matches(r)).copied().unwrap_or("other")
    }
}

/// The metric handles of one fixed route, resolved when the routes are built.
struct RouteMetrics {
    route: &'static str,
    latency: Histogram,
    ok: Counter,
}

pub(crate) struct Observed<E> {
    inner: E,
    listener: Listener,
    /// `None`: the route is looked up per request (the catch-all behind the fixed routes).
    fixed: Option<RouteMetrics>,
    metrics: Arc<Metrics>,
    /// Traces are exported: the span is the request's SERVER span.
    traced: bool,
}

impl<E: Endpoint> Observed<E> {
    /// Wraps the endpoint of one known route.
    pub(crate) fn route(
        inner: E,
        listener: Listener,
        route: &'static str,
        metrics: Arc<Metrics>,
        traced: bool,
    ) -> Self {
        debug_assert!(listener.routes().contains(&route), "{route} is not a known route");
        let fixed = RouteMetrics {
            route,
            latency: latency_of(&metrics, listener, route),
            ok: counter_of(&metrics, listener, route, 200),
        };
        Self {
            inner,
            listener,
            fixed: Some(fixed),
            metrics,
            traced,
        }
    }

    /// Wraps an endpoint serving several routes; the route label comes from the path.
    pub(crate) fn any(inner: E, listener: Listener, metrics: Arc<Metrics>, traced: bool) -> Self {
        Self {
            inner,
            listener,
            fixed: None,
            metrics,
            traced,
        }
    }

    fn record(&self, route: &'static str, status: u16, elapsed: f64) {
        match &self.fixed {
            Some(fixed) => {
                fixed.latency.observe(elapsed);
                if status == 200 {
                    fixed.ok.inc();
                } else {
                    counter_of(&self.metrics, self.listener, route, status).inc();
                }
            }
            None => {
                latency_of(&self.metrics, self.listener, route).observe(elapsed);
                counter_of(&self.metrics, self.listener, route, status).inc();
            }
        }
    }
}

fn latency_of(metrics: &Metrics, listener: Listener, route: &'static str) -> Histogram {
    let labels = RouteLabels {
        listener: listener.name(),
        route,
    };
    metrics.request_seconds.get_or_create(&labels).clone()
}

fn counter_of(metrics: &Metrics, listener: Listener, route: &'static str, status: u16) -> Counter {
    let labels = RequestLabels {
        listener: listener.name(),
        route,
        status,
    };
    metrics.requests.get_or_create(&labels).clone()
}

/// Routes whose successful answers are logged at debug only.
const QUIET_ROUTES: &[&str] = &["/healthz", "/readyz", "/metrics"];
/// A request slower than this is logged at info, whatever its route.
const SLOW: std::time::Duration = std::time::Duration::from_millis(500);

/// The request span with the HTTP semantic conventions' attributes, for export: the route
/// template (never the path's own values or the query), no header values. The status and
/// the trace id are recorded later.
macro_rules! server_span {
    ($level:expr, $req:ident, $route:ident, $request_id:ident) => {
        tracing::span!(
            $level,
            "request",
            request_id = %$request_id,
            method = %$req.method(),
            route = $route,
            otel.name = %format_args!("{} {}", $req.method(), $route),
            otel.kind = "server",
            http.request.method = %$req.method(),
            http.route = $route,
            url.scheme = %$req.scheme(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        )
    };
}

/// A constant, so that naming the header allocates nothing.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A given `X-Request-Id` if it is sane, else 128 random bits.
fn request_id(req: &Request) -> String {
    req.header("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()))
}

impl<E: Endpoint> Endpoint for Observed<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let request_id = request_id(&req);
        let route = match &self.fixed {
            Some(fixed) => fixed.route,
            None => self.listener.route_of(req.uri().path()),
        };
        // The hot path and the probes are answered thousands of times a second: a success
        // there is logged at debug (the metrics count every request); errors and slow
        // answers are logged at any route.
        let quiet = self.fixed.is_some() || QUIET_ROUTES.contains(&route);
        let span = if self.traced {
            let span = if quiet {
                server_span!(tracing::Level::DEBUG, req, route, request_id)
            } else {
                server_span!(tracing::Level::INFO, req, route, request_id)
            };
            crate::telemetry::trace::continue_trace(&span, req.headers());
            span
        } else if quiet {
            tracing::debug_span!("request", request_id = %request_id, method = %req.method(), route)
        } else {
            tracing::info_span!("request", request_id = %request_id, method = %req.method(), route)
        };
        let started = Instant::now();
        let mut response = match super::body::limit_body(&mut req).await {
            Ok(()) => match self.inner.call(req).instrument(span.clone()).await {
                Ok(r) => r.into_response(),
                Err(e) => e.into_response(),
            },
            Err(too_large) => too_large,
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed().as_secs_f64();
        self.record(route, status, elapsed);
        if self.traced {
            span.record("http.response.status_code", status);
            if status >= 500 {
                span.record("otel.status_code", "ERROR");
            }
        }
        let latency_ms = elapsed * 1000.0;
        // In the span, so a traced request's line carries its trace id; the fields are
        // repeated because a quiet route's span is off at the default level.
        if status >= 500 && quiet {
            // A 503 from /readyz is an answer (not ready yet), not a fault of the request.
            span.in_scope(|| tracing::info!(request_id, route, status, latency_ms, "request failed"));
        } else if status >= 500 {
            span.in_scope(|| tracing::warn!(request_id, route, status, latency_ms, "request failed"));
        } else if elapsed >= SLOW.as_secs_f64() {
            span.in_scope(|| tracing::info!(request_id, route, status, latency_ms, "slow request finished"));
        } else if quiet {
            span.in_scope(|| tracing::debug!(status, latency_ms, "request finished"));
        } else {
            span.in_scope(|| tracing::info!(status, latency_ms, "request finished"));
        }
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(request_id)) {
            response.headers_mut().insert(X_REQUEST_ID, v);
        }
        if self.listener == Listener::Public {
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_of_both_listeners_has_its_route_template_and_anything_else_is_other() {
        for (listener, path, route) in [
            (Listener::Public, "/auth/login", "/auth/login"),
            (Listener::Public, "/auth/sessions", "/auth/sessions"),
            (Listener::Public, "/auth/sessions/k3J9x", "/auth/sessions/{id}"),
            (Listener::Public, "/auth/sessions/", "other"),
            (Listener::Public, "/auth/sessions/a/b", "other"),
            (Listener::Public, "/admin/sessions", "other"),
            (Listener::Internal, "/.well-known/jwks.json", "/.well-known/jwks.json"),
            (Listener::Internal, "/admin/sessions", "/admin/sessions"),
            (Listener::Internal, "/admin/sessions/abc", "/admin/sessions/{id}"),
            (Listener::Internal, "/admin/sessionsX", "other"),
            (Listener::Internal, "/nowhere", "other"),
        ] {
            assert_eq!(listener.route_of(path), route, "{path}");
        }
    }
}
