//! `/forward-auth` (README, "Behind a reverse proxy") against the real provider and Redis,
//! called as the proxies call it: the original request described in `X-Forwarded-*` or
//! `X-Original-*` headers.

pub(crate) mod assertion;
mod identity;
mod routes;
mod sign_in;
mod step_up;
pub(crate) mod verifiers;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::site::PAGE;

impl TestApp {
    /// A forward-auth request as Traefik or Caddy sends it for a browser loading
    /// `{public}{uri}`: `path` is `/forward-auth` and its query, or a path below it.
    pub(super) fn gate(&self, method: Method, path: &str, session: Option<&str>) -> RequestBuilder {
        let host = self.public.trim_start_matches("http://");
        let request = proxy()
            .request(method, format!("{}{path}", self.internal))
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-host", host);
        match session {
            Some(value) => request.header("cookie", format!("theme=dark; oidc_session={value}")),
            None => request,
        }
    }
}

/// A reverse proxy: it hands redirects on, never follows them.
pub(super) fn proxy() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(super) async fn send(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

pub(super) async fn error_of(response: Response) -> Value {
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json; charset=utf-8"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["error_description"].is_string(),
        "{body}"
    );
    body
}

pub(super) fn header(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}
