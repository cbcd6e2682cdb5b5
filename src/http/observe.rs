//! What every request passes through: a request id, one span, metrics, the body limit and
//! (public listener) `Cache-Control: no-store`.
//!
//! A plain [`Endpoint`] wrapper rather than a closure middleware: the hot routes are
//! wrapped one by one with their metric handles resolved once, so a request pays for no
//! label hashing, no route lookup and no extra boxed future (docs/PERFORMANCE.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use poem::http::{HeaderName, HeaderValue, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
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

/// The largest request body any endpoint reads (logout tokens, introspection bodies).
const MAX_BODY: usize = 64 * 1024;

/// How long a request body may take to arrive: a client trickling a body cannot hold a
/// connection (`serve.rs` bounds the request head).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads every request body here, within [`MAX_BODY`] and [`BODY_READ_TIMEOUT`], and hands
/// it on in memory. However it is framed (`Content-Length`, chunked, or an HTTP/2 stream
/// that declares no length), a body over the bound is refused with 413 as soon as the
/// bound is passed: memory never grows with the bytes a client sends. The request is
/// borrowed, not moved in and out: each move would be a copy of it kept in the future.
async fn limit_body(req: &mut Request) -> Result<(), Response> {
    let refuse = |status: StatusCode, description: &str| {
        let body = serde_json::json!({"error": "invalid_request", "error_description": description});
        Response::builder()
            .status(status)
            .content_type("application/json")
            .body(body.to_string())
    };
    let too_large = || refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    match req.header("content-length").map(|v| v.trim().parse::<usize>()) {
        Some(Ok(len)) if len > MAX_BODY => return Err(too_large()),
        Some(Err(_)) => return Err(refuse(StatusCode::BAD_REQUEST, "invalid Content-Length")),
        _ => {}
    }
    let body = req.take_body();
    if body.is_empty() {
        // GETs and bodiless POSTs (the hot path): nothing to read.
        req.set_body(body);
        return Ok(());
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, read_body(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            req.set_body(bytes);
            Ok(())
        }
        Ok(Err(BodyError::TooLarge)) => Err(too_large()),
        Ok(Err(BodyError::Unreadable)) => Err(refuse(StatusCode::BAD_REQUEST, "the request body could not be read")),
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the request body took too long to arrive",
        )),
    }
}

pub(crate) enum BodyError {
    TooLarge,
    Unreadable,
}

/// A body's bytes, refused as soon as they pass `limit`. Frame by frame rather than with
/// poem's `into_bytes_limit`, whose 4 KiB buffer is zeroed and copied through on every
/// call and makes each future that awaits it 4 KiB larger (docs/DESIGN.md, "Where the hot
/// path's time goes"); a body already in memory comes back without a copy.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let body: BoxBody<Bytes, std::io::Error> = body.into();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
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
        let mut response = match limit_body(&mut req).await {
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures_util::StreamExt as _;
    use poem::Body;

    use super::*;

    /// A body of unknown length (as an HTTP/2 stream without `Content-Length`), counting
    /// what is pulled from it.
    fn endless(pulled: Arc<AtomicUsize>) -> Body {
        let chunks = futures_util::stream::repeat_with(move || {
            pulled.fetch_add(4096, Ordering::Relaxed);
            Ok::<_, std::io::Error>(vec![b'x'; 4096])
        });
        Body::from_bytes_stream(chunks)
    }

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

    #[tokio::test]
    async fn a_body_of_unknown_length_is_cut_off_just_past_the_limit_with_413() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let mut req = Request::builder()
            .method(poem::http::Method::POST)
            .body(endless(pulled.clone()));
        let refused = limit_body(&mut req).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(pulled.load(Ordering::Relaxed) <= MAX_BODY + 4096);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_arriving_gets_408_after_the_body_read_timeout() {
        let stalled = futures_util::stream::once(async { Ok::<_, std::io::Error>(vec![b'x'; 10]) })
            .chain(futures_util::stream::pending());
        let mut req = Request::builder()
            .method(poem::http::Method::POST)
            .body(Body::from_bytes_stream(stalled));
        let refused = limit_body(&mut req).await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_handed_on_whole() {
        let mut req = Request::builder()
            .method(poem::http::Method::POST)
            .body(Body::from_bytes_stream(futures_util::stream::iter([
                Ok::<_, std::io::Error>("logout_token="),
                Ok("abc"),
            ])));
        limit_body(&mut req).await.unwrap();
        assert_eq!(req.take_body().into_string().await.unwrap(), "logout_token=abc");
    }
}
