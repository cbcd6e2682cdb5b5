//! HTTP: the public and internal listeners' routes and middleware.

pub mod error;
pub mod internal;
pub mod lenient;
pub mod public;
pub mod same_site;

use std::sync::Arc;
use std::time::Instant;

use poem::http::HeaderValue;
use poem::middleware::CookieJarManager;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApiService;

use crate::service::Service;
use crate::telemetry::metrics::{Metrics, RequestLabels, RouteLabels};
use tracing::Instrument;

const TITLE: &str = "oidc-session";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The OpenAPI document of both listeners.
pub fn openapi_json(service: &Arc<Service>) -> String {
    OpenApiService::new(
        (
            public::PublicApi {
                service: service.clone(),
            },
            internal::InternalApi {
                service: service.clone(),
            },
        ),
        TITLE,
        VERSION,
    )
    .spec()
}

pub fn public_routes(service: Arc<Service>) -> impl Endpoint {
    let metrics = service.metrics.clone();
    let api = OpenApiService::new(public::PublicApi { service }, TITLE, VERSION);
    Route::new()
        .nest("/", api)
        .with(CookieJarManager::new())
        .around(move |ep, req| observe(ep, req, Listener::Public, metrics.clone()))
}

pub fn internal_routes(service: Arc<Service>) -> impl Endpoint {
    let spec = openapi_json(&service);
    let metrics = service.metrics.clone();
    let api = OpenApiService::new(internal::InternalApi { service }, TITLE, VERSION);
    Route::new()
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| Response::builder().content_type("application/json").body(spec.clone())),
        )
        .nest("/", api)
        .around(move |ep, req| observe(ep, req, Listener::Internal, metrics.clone()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Listener {
    Public,
    Internal,
}

const PUBLIC_ROUTES: &[&str] = &[
    "/auth/login",
    "/auth/callback",
    "/auth/me",
    "/auth/refresh",
    "/auth/logout",
    "/auth/backchannel-logout",
];
const INTERNAL_ROUTES: &[&str] = &[
    "/introspect",
    "/forward-auth",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// The route template for metrics: a known path, or `other` (bounded label values).
fn route_of(listener: Listener, path: &str) -> &'static str {
    let routes = match listener {
        Listener::Public => PUBLIC_ROUTES,
        Listener::Internal => INTERNAL_ROUTES,
    };
    routes.iter().find(|r| **r == path).copied().unwrap_or("other")
}

/// The largest request body any endpoint reads (logout tokens, introspection bodies).
const MAX_BODY: usize = 64 * 1024;

/// Refuses bodies over [`MAX_BODY`] with 413, whether announced by `Content-Length` or
/// streamed in chunks (those are read here, within the bound, and handed on).
async fn limit_body(mut req: Request) -> Result<Request, Response> {
    let too_large = || {
        let body = serde_json::json!({"error": "invalid_request", "error_description": "request body too large"});
        Response::builder()
            .status(poem::http::StatusCode::PAYLOAD_TOO_LARGE)
            .content_type("application/json")
            .body(body.to_string())
    };
    let declared = req.header("content-length").map(|v| v.trim().parse::<usize>());
    match declared {
        Some(Ok(len)) if len <= MAX_BODY => Ok(req),
        Some(_) => Err(too_large()),
        None if req.header("transfer-encoding").is_some() => match req.take_body().into_bytes_limit(MAX_BODY).await {
            Ok(bytes) => {
                req.set_body(bytes);
                Ok(req)
            }
            Err(_) => Err(too_large()),
        },
        None => Ok(req),
    }
}

/// One span per request with a request id (echoed in `X-Request-Id`), the route, status
/// and latency. Public responses are never cached: they carry sessions and redirects.
async fn observe<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    listener: Listener,
    metrics: Arc<Metrics>,
) -> poem::Result<Response> {
    let request_id = req
        .header("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::session::random_token()[..22].to_owned());
    let route = route_of(listener, req.uri().path());
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id, %method, route);
    let started = Instant::now();
    let mut response = match limit_body(req).await {
        Ok(req) => match ep.call(req).instrument(span.clone()).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        },
        Err(too_large) => too_large,
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let listener_name = match listener {
        Listener::Public => "public",
        Listener::Internal => "internal",
    };
    metrics
        .requests
        .get_or_create(&RequestLabels {
            listener: listener_name,
            route,
            status,
        })
        .inc();
    metrics
        .request_seconds
        .get_or_create(&RouteLabels {
            listener: listener_name,
            route,
        })
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request finished");
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if listener == Listener::Public {
        response
            .headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-store"));
    }
    Ok(response)
}
