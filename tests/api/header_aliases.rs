//! Identity headers forged in every spelling, through real nginx and Caddy configured from
//! `examples/`, in front of an app that reads `X_Auth_Request_User`, `X.Auth.Request.User`
//! and `X~Auth~Request~User` as `X-Auth-Request-User` (a WSGI app on Python's wsgiref).
//! The app must see the gatekeeper's values or nothing, never a forged one. Run for each
//! proxy by `proxies.rs`.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::support::app::browser;
use crate::support::proxy::Kind;
use crate::support::site::{echo, site_with, Backend, PAGE};

/// The identity headers of forward-auth and of the identity assertion.
const IDENTITY: [&str; 6] = ["user", "email", "groups", "sub", "access-token", "assertion"];

/// `x-auth-request-<name>` spelt with `separator` between its words.
fn spelt(name: &str, separator: &str) -> String {
    format!("x-auth-request-{name}").replace('-', separator)
}

/// Every identity header forged in every spelling: dash, underscore, dot, tilde, and one
/// that mixes them. Each value says which spelling carried it.
fn forged(request: RequestBuilder) -> RequestBuilder {
    let mut request = request;
    for name in IDENTITY {
        let mut spellings: Vec<(String, &str)> = [("-", "dash"), ("_", "underscore"), (".", "dot"), ("~", "tilde")]
            .into_iter()
            .map(|(separator, form)| (spelt(name, separator), form))
            .collect();
        spellings.push((format!("x-auth_request.{}", name.replace('-', "~")), "mixed"));
        for (header, form) in spellings {
            let value = format!("forged-{form}-{name}");
            request = request.header(
                HeaderName::from_bytes(header.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
    }
    request
}

/// What the app saw of the identity headers, every alias collapsed into one variable.
fn seen(echo: &Value) -> &serde_json::Map<String, Value> {
    echo["seen"].as_object().expect("the app's `seen` object")
}

fn assert_nothing_forged(what: &str, journal: &[Value]) {
    for record in journal {
        assert!(
            !record.to_string().contains("forged-"),
            "{what}: a forged identity header reached the app: {record}"
        );
    }
}

pub async fn forged_identity_headers_in_any_spelling_never_reach_the_app_of_a_signed_in_user(kind: Kind) {
    let site = site_with(kind, vec![], Backend::Wsgi).await;
    let carol = browser();
    site.sign_in_at(&carol, "/", "admin-carol").await;
    // The same identity through both guarded routes (nginx: two locations; Caddy: two
    // handles), exactly the gatekeeper's four headers, nothing of the forged ones.
    let expected = json!({
        "HTTP_X_AUTH_REQUEST_USER": ["admin-carol"],
        "HTTP_X_AUTH_REQUEST_EMAIL": ["admin-carol@example.test"],
        "HTTP_X_AUTH_REQUEST_GROUPS": ["users,admins"],
        "HTTP_X_AUTH_REQUEST_SUB": ["admin-carol"],
    });
    for path in ["/reports", "/admin/users"] {
        let request = carol.get(format!("{}{path}", site.url)).header("accept", PAGE);
        let answer = forged(request).send().await.unwrap();
        let echo = echo(answer).await;
        assert_eq!(echo["path"], path);
        assert_eq!(&Value::Object(seen(&echo).clone()), &expected, "{kind:?} {path}");
    }
    assert_nothing_forged(&format!("{kind:?}"), &site.wsgi.as_ref().unwrap().journal());
}

pub async fn forged_identity_headers_in_any_spelling_never_reach_the_app_without_a_session(kind: Kind) {
    let site = site_with(kind, vec![], Backend::Wsgi).await;
    let anonymous = browser();
    // A script (401), a page load (302 to sign in), the group route, and the service's own
    // routes that skip the gatekeeper.
    let requests = [
        ("/reports", "application/json", StatusCode::UNAUTHORIZED),
        ("/reports", PAGE, StatusCode::FOUND),
        ("/admin/users", "application/json", StatusCode::UNAUTHORIZED),
        ("/auth/me", "application/json", StatusCode::UNAUTHORIZED),
    ];
    for (path, accept, status) in requests {
        let request = anonymous.get(format!("{}{path}", site.url)).header("accept", accept);
        let answer = forged(request).send().await.unwrap();
        assert_eq!(answer.status(), status, "{kind:?} {path} ({accept})");
    }
    let journal = site.wsgi.as_ref().unwrap().journal();
    assert!(
        journal.is_empty(),
        "{kind:?}: the app was reached without a session: {journal:?}"
    );
}

pub async fn with_tokens_exposed_the_app_sees_the_gatekeepers_access_token_never_a_forged_one(kind: Kind) {
    let env = vec![("OIDC_INTROSPECTION_EXPOSE_TOKENS", "true".to_owned())];
    let site = site_with(kind, env, Backend::Wsgi).await;
    let alice = browser();
    site.sign_in_at(&alice, "/", "alice").await;
    let request = alice.get(format!("{}/reports", site.url)).header("accept", PAGE);
    let echo = echo(forged(request).send().await.unwrap()).await;
    let seen = seen(&echo);
    let tokens = seen["HTTP_X_AUTH_REQUEST_ACCESS_TOKEN"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{kind:?}: one access token: {seen:?}");
    let token = tokens[0].as_str().unwrap();
    // The test provider's access tokens are opaque random strings: not a forged value,
    // not an empty one, not a proxy's unexpanded placeholder.
    assert!(
        token.len() >= 20 && !token.contains("forged") && !token.contains('{'),
        "{kind:?}: {token}"
    );
    assert_eq!(seen["HTTP_X_AUTH_REQUEST_USER"], json!(["alice"]));
    // No assertion key is configured: the gatekeeper sends no assertion, so none arrives.
    assert!(
        !seen.contains_key("HTTP_X_AUTH_REQUEST_ASSERTION"),
        "{kind:?}: {seen:?}"
    );
    assert_nothing_forged(&format!("{kind:?}"), &site.wsgi.as_ref().unwrap().journal());
}
