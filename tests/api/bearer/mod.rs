//! Bearer tokens from API clients (README, "API clients with bearer tokens") against the
//! real provider: JWT access tokens for a resource (RFC 8707 resource indicators, RFC 9068)
//! verified locally, opaque ones through its RFC 7662 introspection endpoint.

mod forged;
mod jwt;
mod opaque;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::support::app::{spawn_app_with, Options, TestApp};

pub(crate) const API: &str = "https://api.example.test";
pub(crate) const OTHER_API: &str = "https://other.example.test";
pub(crate) const OPAQUE_API: &str = "https://opaque.example.test";
const CLI: &str = "cli";
const CLI_SECRET: &str = "cli-secret-0123456789";

/// The provider with an API client (`cli`, client credentials) and resources in both
/// formats; the service accepts tokens for `API` and `OPAQUE_API`.
pub(crate) async fn spawn_with_bearers(mut options: Options) -> TestApp {
    options.provider = api_provider();
    options.env.push(("OIDC_BEARER_AUDIENCES", audiences()));
    spawn_app_with(options).await
}

/// `OIDC_BEARER_AUDIENCES` for the resources of [`api_provider`].
pub(crate) fn audiences() -> String {
    format!("{API}, {OPAQUE_API}")
}

/// Test-provider configuration: the API client and the resource servers.
pub(crate) fn api_provider() -> Value {
    json!({
        "extra_clients": [{
            "client_id": CLI,
            "client_secret": CLI_SECRET,
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
        }],
        "resource_servers": { API: "jwt", OTHER_API: "jwt", OPAQUE_API: "opaque" },
    })
}

/// An access token for `resource` from the client-credentials grant.
pub(crate) async fn client_credentials(app: &TestApp, resource: &str) -> String {
    let answer: Value = app
        .api
        .post(app.provider.url("/token"))
        .basic_auth(CLI, Some(CLI_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", "api"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {answer}"))
        .to_owned()
}

impl TestApp {
    /// Forward-auth for an API call carrying `token`, as a proxy forwards it.
    pub(crate) fn gate_bearer(&self, query: &str, token: &str) -> RequestBuilder {
        reqwest::Client::new()
            .request(Method::GET, format!("{}/forward-auth{query}", self.internal))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json")
    }

    pub(crate) async fn introspect_token(&self, token: &str) -> Value {
        self.api
            .post(format!("{}/introspect", self.internal))
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

pub(crate) fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A JWT's claims, read without verifying.
pub(crate) fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
