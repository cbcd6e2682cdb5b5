//! HTTP: the public and internal listeners' routes and middleware.

pub(crate) mod error;
pub(crate) mod internal;
mod jwks;
mod lenient;
mod logout_page;
mod observe;
pub(crate) mod public;
mod same_site;
pub(crate) mod serve;

use std::sync::Arc;

use poem::middleware::CookieJarManager;
use poem::{Endpoint, EndpointExt, Response, Route, RouteMethod};
use poem_openapi::OpenApiService;

use crate::service::Service;
use observe::{Listener, Observed};
pub use serve::ConnectionTimeouts;

const TITLE: &str = "oidc-session";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The OpenAPI document of both listeners.
pub(crate) fn openapi_json(service: &Arc<Service>) -> String {
    OpenApiService::new(
        (
            public::PublicApi {
                service: service.clone(),
            },
            jwks::JwksApi {
                service: service.clone(),
            },
            internal::InternalApi {
                service: service.clone(),
            },
            forward_auth_api(service),
        ),
        TITLE,
        VERSION,
    )
    .spec()
}

pub(crate) fn public_routes(service: Arc<Service>) -> impl Endpoint {
    let metrics = service.metrics().clone();
    let api = OpenApiService::new(
        (
            public::PublicApi {
                service: service.clone(),
            },
            jwks::JwksApi { service },
        ),
        TITLE,
        VERSION,
    );
    let api = Route::new().nest("/", api).with(CookieJarManager::new());
    Observed::any(api, Listener::Public, metrics)
}

fn forward_auth_api(service: &Arc<Service>) -> internal::forward_auth::ForwardAuthApi {
    internal::forward_auth::ForwardAuthApi(internal::InternalApi {
        service: service.clone(),
    })
}

/// `/introspect` and `/forward-auth` are the hot path: they are matched first and call
/// their operations directly, without the OpenAPI router; everything else goes through it.
/// Forward-auth takes every method, and every path below it (Envoy appends the original path).
pub(crate) fn internal_routes(service: Arc<Service>) -> impl Endpoint {
    let spec = openapi_json(&service);
    let metrics = service.metrics().clone();
    let api = |service: &Arc<Service>| internal::InternalApi {
        service: service.clone(),
    };
    let introspect = internal::hot::Introspect(api(&service));
    let forward_auth = |service: &Arc<Service>| {
        Observed::route(
            internal::hot::ForwardAuth(forward_auth_api(service)),
            Listener::Internal,
            "/forward-auth",
            service.metrics().clone(),
        )
    };
    let rest = Route::new()
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| Response::builder().content_type("application/json").body(spec.clone())),
        )
        .nest(
            "/",
            OpenApiService::new((api(&service), forward_auth_api(&service)), TITLE, VERSION),
        );
    let internal = Listener::Internal;
    Route::new()
        .at(
            "/introspect",
            RouteMethod::new().post(Observed::route(introspect, internal, "/introspect", metrics.clone())),
        )
        .at(internal::forward_auth::PATH, forward_auth(&service))
        .at("/forward-auth/*original", forward_auth(&service))
        .nest("/", Observed::any(rest, internal, metrics))
}
