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
    let api = OpenApiService::new(public::PublicApi { service }, TITLE, VERSION);
    Route::new()
        .nest("/", api)
        .with(CookieJarManager::new())
        .around(|ep, req| observe(ep, req, true))
}

pub fn internal_routes(service: Arc<Service>) -> impl Endpoint {
    let spec = openapi_json(&service);
    let api = OpenApiService::new(internal::InternalApi { service }, TITLE, VERSION);
    Route::new()
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            }),
        )
        .nest("/", api)
        .around(|ep, req| observe(ep, req, false))
}

/// One span per request with a request id (echoed in `X-Request-Id`), the path, status
/// and latency. Public responses are never cached: they carry sessions and redirects.
async fn observe<E: Endpoint>(ep: Arc<E>, req: Request, public: bool) -> poem::Result<Response> {
    let request_id = req
        .header("x-request-id")
        .filter(|v| v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| crate::session::random_token()[..22].to_owned());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, %method, path = %path);
    let started = Instant::now();
    let _entered = span.enter();
    drop(_entered);
    let result = tracing::Instrument::instrument(ep.call(req), span.clone()).await;
    let mut response = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if public {
        response
            .headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-store"));
    }
    Ok(response)
}
