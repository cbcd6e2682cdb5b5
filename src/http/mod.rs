//! HTTP: the public and internal listeners' routes and middleware.

mod backchannel;
mod body;
pub(crate) mod cookie;
pub(crate) mod error;
pub(crate) mod internal;
mod jwks;
mod lenient;
mod logout_page;
mod observe;
pub(crate) mod public;
mod same_site;
pub(crate) mod serve;
mod sessions;

use std::sync::Arc;

use poem::middleware::CookieJarManager;
use poem::{Endpoint, EndpointExt, Response, Route, RouteMethod};
use poem_openapi::OpenApiService;

use crate::config::Settings;
use crate::domain::Secret;
use crate::service::Service;
use cookie::Cookies;
use observe::{Listener, Observed};
pub use serve::ConnectionTimeouts;

const TITLE: &str = "oidc-session";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the HTTP layer owns: the cookies' shape and the internal API's secret.
#[derive(Clone)]
pub(crate) struct Http {
    /// One throttle for the forward-auth sub-path warning, whichever handler writes it.
    ignored_rules: Arc<crate::util::throttle::Throttle>,
    service: Arc<Service>,
    cookies: Cookies,
    internal_secret: Option<Secret>,
    admin_secret: Option<Secret>,
    /// Traces are exported (an OTLP endpoint is set).
    traced: bool,
}

impl Http {
    pub(crate) fn new(service: Arc<Service>, settings: &Settings) -> Self {
        Self {
            ignored_rules: Arc::new(crate::util::throttle::Throttle::new(
                internal::forward_auth::IGNORED_RULES_WARNING_EVERY,
            )),
            service,
            cookies: Cookies::new(settings.cookie.clone()),
            internal_secret: settings.introspection_secret.clone(),
            admin_secret: settings.admin_secret.clone(),
            traced: settings.tracing.is_some(),
        }
    }

    fn public(&self) -> public::PublicApi {
        public::PublicApi {
            service: self.service.clone(),
            cookies: self.cookies.clone(),
        }
    }

    fn sessions(&self) -> sessions::SessionsApi {
        sessions::SessionsApi {
            service: self.service.clone(),
            cookies: self.cookies.clone(),
        }
    }

    fn admin(&self) -> internal::admin::AdminApi {
        internal::admin::AdminApi {
            service: self.service.clone(),
            secret: self.admin_secret.clone(),
        }
    }

    fn jwks(&self) -> jwks::JwksApi {
        jwks::JwksApi {
            service: self.service.clone(),
        }
    }

    fn internal(&self) -> internal::InternalApi {
        internal::InternalApi {
            service: self.service.clone(),
            cookies: self.cookies.clone(),
            secret: self.internal_secret.clone(),
            ignored_rules: self.ignored_rules.clone(),
        }
    }

    /// The OpenAPI document of both listeners.
    pub(crate) fn openapi_json(&self) -> String {
        OpenApiService::new(
            (
                self.public(),
                self.sessions(),
                self.jwks(),
                self.internal(),
                self.admin(),
            ),
            TITLE,
            VERSION,
        )
        .spec()
    }

    pub(crate) fn public_routes(&self) -> impl Endpoint {
        let metrics = self.service.metrics().clone();
        let api = OpenApiService::new((self.public(), self.sessions(), self.jwks()), TITLE, VERSION);
        let api = Route::new().nest("/", api).with(CookieJarManager::new());
        Observed::any(api, Listener::Public, metrics, self.traced)
    }

    /// `/introspect` and `/forward-auth` are the hot path: they are matched first and call
    /// their operations directly, without the OpenAPI router; everything else goes through
    /// it. Forward-auth takes every method, and every path below it (Envoy appends the
    /// original path).
    pub(crate) fn internal_routes(&self) -> impl Endpoint {
        let spec = self.openapi_json();
        let metrics = self.service.metrics().clone();
        let internal = Listener::Internal;
        let forward_auth = || {
            let endpoint = internal::hot::ForwardAuth(self.internal());
            Observed::route(
                endpoint,
                internal,
                internal::forward_auth::PATH,
                metrics.clone(),
                self.traced,
            )
        };
        let rest = Route::new()
            .at(
                "/openapi.json",
                poem::endpoint::make_sync(move |_| {
                    Response::builder().content_type("application/json").body(spec.clone())
                }),
            )
            .nest(
                "/",
                OpenApiService::new((self.internal(), self.admin()), TITLE, VERSION),
            );
        let introspect = || {
            let endpoint = internal::hot::Introspect(self.internal());
            Observed::route(endpoint, internal, "/introspect", metrics.clone(), self.traced)
        };
        let routes = Route::new()
            .at("/introspect", RouteMethod::new().post(introspect()))
            .at(internal::forward_auth::PATH, forward_auth())
            .at("/forward-auth/*original", forward_auth())
            .nest("/", Observed::any(rest, internal, metrics.clone(), self.traced));
        internal::hot::HotFirst {
            introspect: introspect(),
            forward_auth: forward_auth(),
            routes,
        }
    }
}
