//! A site as users deploy it: a real reverse proxy (configured from `examples/`) in front
//! of an app, with `/auth/*` of the same host routed to the service's public listener and
//! every other path guarded by its forward-auth. The service's own origin is the proxy's.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::app::{location, spawn_app_with, Options, TestApp, CLIENT_ID};
use crate::support::child::reserve_port;
use crate::support::header_echo::HeaderEcho;
use crate::support::provider;
use crate::support::proxy::{Kind, Proxy, Upstreams};
use crate::support::upstream::Upstream;

pub const PAGE: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

pub struct Site {
    /// `http://127.0.0.1:<proxy port>`: what browsers open.
    pub url: String,
    pub app: TestApp,
    pub proxy: Proxy,
    /// The header-collapsing WSGI app, when it is the one behind the proxy.
    pub wsgi: Option<HeaderEcho>,
    _upstream: Option<Upstream>,
}

/// The app the proxy protects.
pub enum Backend {
    /// The in-process echo of `support::upstream` (identity headers by their dash names).
    Echo,
    /// `support::header_echo`: a WSGI app that reads every alias of a header name as one.
    Wsgi,
}

/// The service behind `kind`, its redirect URI, post-logout page and back-channel logout
/// URI on the proxy's origin. `env` adds service variables.
pub async fn site(kind: Kind, env: Vec<(&'static str, String)>) -> Site {
    site_with(kind, env, Backend::Echo).await
}

/// [`site`] with `backend` as the app.
pub async fn site_with(kind: Kind, env: Vec<(&'static str, String)>, backend: Backend) -> Site {
    site_for(kind, env, backend, json!({})).await
}

/// [`site_with`], with more test-provider configuration (`provider`: its other clients,
/// resource servers, …).
pub async fn site_for(kind: Kind, env: Vec<(&'static str, String)>, backend: Backend, provider: Value) -> Site {
    let reserved = reserve_port();
    let url = format!("http://127.0.0.1:{}", reserved.local_addr().unwrap().port());
    let (upstream, wsgi, app_addr) = match backend {
        Backend::Echo => {
            let echo = Upstream::start().await;
            let addr = echo.addr.clone();
            (Some(echo), None, addr)
        }
        Backend::Wsgi => {
            let wsgi = HeaderEcho::start();
            let addr = wsgi.addr.clone();
            (None, Some(wsgi), addr)
        }
    };
    let mut vars = vec![
        ("OIDC_REDIRECT_URI", format!("{url}/auth/callback")),
        ("OIDC_POST_LOGOUT_REDIRECT_URI", format!("{url}/")),
    ];
    vars.extend(env);
    let mut config = json!({"clients": [{
        "client_id": CLIENT_ID,
        "token_endpoint_auth_method": "none",
        "redirect_uris": [format!("{url}/auth/callback")],
        "post_logout_redirect_uris": [format!("{url}/")],
        "backchannel_logout_uri": format!("{url}/auth/backchannel-logout"),
    }]});
    for (k, v) in provider.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    let app = spawn_app_with(Options {
        env: vars,
        provider: config,
        ..Options::default()
    })
    .await;
    let public = app.public.trim_start_matches("http://").to_owned();
    let internal = app.internal.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start(
        kind,
        reserved,
        &Upstreams {
            public: &public,
            internal: &internal,
            app: &app_addr,
        },
    );
    assert_eq!(proxy.url, url);
    Site {
        url,
        app,
        proxy,
        wsgi,
        _upstream: upstream,
    }
}

impl Site {
    /// A page load of `path` in `browser`, as a browser sends it.
    pub async fn load(&self, browser: &reqwest::Client, path: &str) -> Response {
        browser
            .get(format!("{}{path}", self.url))
            .header("accept", PAGE)
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .unwrap()
    }

    /// Loads `path` without a session, follows the sign-in through the proxy and the
    /// provider's forms as `user`, and returns the answer at the page it came back to.
    pub async fn sign_in_at(&self, browser: &reqwest::Client, path: &str, user: &str) -> Response {
        let first = self.load(browser, path).await;
        assert_eq!(first.status(), StatusCode::FOUND, "{}", self.proxy.log());
        let login = location(&first);
        assert!(
            login.starts_with(&format!("{}/auth/login?return_to=", self.url)),
            "{login}"
        );
        let to_provider = self.load_url(browser, &login).await;
        assert_eq!(to_provider.status(), StatusCode::FOUND);
        let callback = provider::sign_in(
            browser,
            &location(&to_provider),
            user,
            &format!("{}/auth/callback", self.url),
        )
        .await;
        let back = self.load_url(browser, &callback).await;
        assert_eq!(
            back.status(),
            StatusCode::FOUND,
            "callback: {}",
            back.text().await.unwrap()
        );
        let original = location(&back);
        assert_eq!(original, path, "back to the page first asked for");
        self.load(browser, path).await
    }

    async fn load_url(&self, browser: &reqwest::Client, url: &str) -> Response {
        browser.get(url).header("accept", PAGE).send().await.unwrap()
    }
}

/// The upstream's echo of what reached it.
pub async fn echo(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}
