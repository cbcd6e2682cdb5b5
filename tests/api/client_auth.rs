//! `private_key_jwt` client authentication and Pushed Authorization Requests against the
//! real provider, which verifies every client assertion (signature, claims, one use per
//! `jti`) and enforces PAR for clients that require it. Keys are generated per test.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

use crate::support::app::{location, session_cookie, spawn_app_with, Options, TestApp, CLIENT_ID};
use crate::support::client_keys::{ec_key, rsa_key, TestKey};

/// How the provider learns the public key.
enum Registration {
    /// Pasted into the client's `jwks`.
    Inline,
    /// The service's `GET /auth/jwks.json` as the client's `jwks_uri`.
    JwksUri,
}

fn private_key_client(key: &TestKey, registration: Registration) -> Value {
    match registration {
        Registration::Inline => json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.jwk]},
        }),
        Registration::JwksUri => json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "{public}/auth/jwks.json",
        }),
    }
}

async fn spawn_with_key(key: &TestKey, registration: Registration, provider: Value) -> TestApp {
    spawn_app_with(Options {
        client: private_key_client(key, registration),
        env: vec![("OIDC_CLIENT_PRIVATE_KEY", key.pem.clone())],
        provider,
        ..Options::default()
    })
    .await
}

/// The client assertions the provider received: `{route, status, header, claims}`.
async fn assertions(app: &TestApp) -> Vec<Value> {
    app.provider.stats().await["client_assertions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every assertion was accepted, is signed with `alg` under the key's `kid`, and carries
/// the claims RFC 7523 §3 asks for; no two share a `jti`.
fn assert_good_assertions(seen: &[Value], issuer: &str, alg: &str, kid: &str) {
    let mut jtis = HashSet::new();
    for a in seen {
        let status = a["status"].as_u64().unwrap();
        assert!((200..300).contains(&status), "refused: {a}");
        assert_eq!(a["header"]["alg"], alg, "{a}");
        assert_eq!(a["header"]["kid"], kid, "{a}");
        let claims = &a["claims"];
        assert_eq!(claims["iss"], CLIENT_ID, "{a}");
        assert_eq!(claims["sub"], CLIENT_ID, "{a}");
        assert_eq!(claims["aud"], issuer, "{a}");
        let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
        assert!(exp > iat && exp - iat <= 60, "{a}");
        assert!(
            jtis.insert(claims["jti"].as_str().unwrap().to_owned()),
            "a jti used twice: {a}"
        );
    }
}

/// Signs in (PAR + code exchange), refreshes, logs out (revocation), and checks that each
/// of those requests carried a fresh, valid assertion.
async fn sign_in_refresh_and_log_out(key: TestKey, registration: Registration, alg: &str, provider: Value) {
    let app = spawn_with_key(&key, registration, provider).await;
    let session = app.sign_in("alice").await;
    assert!(app.is_active(&session).await);
    assert_eq!(app.post_refresh(&session).await.status(), StatusCode::OK);
    let logout = app
        .browser
        .get(format!("{}/auth/logout", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert!(!app.is_active(&session).await);

    let seen = assertions(&app).await;
    let routes: Vec<&str> = seen.iter().map(|a| a["route"].as_str().unwrap()).collect();
    assert_eq!(
        routes,
        ["pushed_authorization_request", "token", "token", "revocation"],
        "one assertion per request to each endpoint"
    );
    assert_good_assertions(&seen, &app.provider.issuer, alg, &key.kid);
}

#[tokio::test]
async fn an_rsa_key_pasted_at_the_provider_signs_in_refreshes_and_logs_out() {
    sign_in_refresh_and_log_out(rsa_key(), Registration::Inline, "RS256", json!({})).await;
}

#[tokio::test]
async fn an_rsa_key_published_at_the_services_jwks_uri_signs_in_refreshes_and_logs_out() {
    sign_in_refresh_and_log_out(rsa_key(), Registration::JwksUri, "RS256", json!({})).await;
}

#[tokio::test]
async fn an_ec_key_pasted_at_the_provider_signs_in_refreshes_and_logs_out() {
    sign_in_refresh_and_log_out(ec_key(), Registration::Inline, "ES256", json!({})).await;
}

#[tokio::test]
async fn an_ec_key_published_at_the_services_jwks_uri_signs_in_refreshes_and_logs_out() {
    sign_in_refresh_and_log_out(ec_key(), Registration::JwksUri, "ES256", json!({})).await;
}

#[tokio::test]
async fn an_rsa_key_signs_ps256_when_the_provider_accepts_only_ps256() {
    let provider = json!({"client_auth_signing_algs": ["PS256"]});
    sign_in_refresh_and_log_out(rsa_key(), Registration::JwksUri, "PS256", provider).await;
}

#[tokio::test]
async fn two_assertions_differ_in_jti() {
    let key = ec_key();
    let app = spawn_with_key(&key, Registration::Inline, json!({})).await;
    app.sign_in("alice").await;
    app.sign_in_with(&crate::support::app::browser(), "bob").await;
    let seen = assertions(&app).await;
    assert_eq!(seen.len(), 4, "two pushed requests and two code exchanges");
    let jtis: HashSet<&str> = seen.iter().map(|a| a["claims"]["jti"].as_str().unwrap()).collect();
    assert_eq!(jtis.len(), 4, "{seen:?}");
}

#[tokio::test]
async fn the_browser_redirect_with_par_carries_only_client_id_and_request_uri() {
    let key = rsa_key();
    let app = spawn_with_key(&key, Registration::Inline, json!({})).await;
    let login = app.get_login(&app.browser, "").await;
    assert_eq!(login.status(), StatusCode::FOUND);
    let to = Url::parse(&location(&login)).unwrap();
    assert!(to.as_str().starts_with(&app.provider.issuer), "{to}");
    let mut keys: Vec<String> = to.query_pairs().map(|(k, _)| k.into_owned()).collect();
    keys.sort();
    assert_eq!(keys, ["client_id", "request_uri"], "{to}");
    assert_eq!(app.provider.stats().await["par_requests"], 1);
}

#[tokio::test]
async fn a_client_that_requires_par_signs_in_with_par_auto_and_is_refused_with_par_never() {
    let requires_par = json!({"require_pushed_authorization_requests": true});
    let auto = spawn_app_with(Options {
        client: requires_par.clone(),
        ..Options::default()
    })
    .await;
    let session = auto.sign_in("alice").await;
    assert!(auto.is_active(&session).await);

    let never = spawn_app_with(Options {
        client: requires_par,
        env: vec![("OIDC_PAR", "never".into())],
        ..Options::default()
    })
    .await;
    let login = never.get_login(&never.browser, "").await;
    let authorize = location(&login);
    assert!(authorize.contains("code_challenge=") && !authorize.contains("request_uri"));
    let refused = never.browser.get(&authorize).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    let back = location(&refused);
    assert!(
        back.starts_with(&format!("{}/auth/callback?error=invalid_request", never.public)),
        "{back}"
    );
    let page = never.browser.get(&back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(page.headers()).is_none());
    let text = page.text().await.unwrap();
    assert!(text.contains("Pushed Authorization Request must be used"), "{text}");
    assert_eq!(never.provider.stats().await["par_requests"], 0);
}

#[tokio::test]
async fn the_jwks_endpoint_publishes_only_the_public_key_and_is_404_without_one() {
    let key = rsa_key();
    let app = spawn_app_with(Options {
        env: vec![
            ("OIDC_CLIENT_PRIVATE_KEY", key.pem.clone()),
            ("OIDC_CLIENT_PRIVATE_KEY_ID", "rsa-2026".into()),
        ],
        client: json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "{public}/auth/jwks.json"}),
        ..Options::default()
    })
    .await;
    let response = app
        .api
        .get(format!("{}/auth/jwks.json", app.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set: Value = response.json().await.unwrap();
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let mut expected = key.jwk.clone();
    expected["kid"] = json!("rsa-2026");
    expected["alg"] = json!("RS256");
    assert_eq!(keys[0], expected, "exactly the public members");

    let without = spawn_app_with(Options::default()).await;
    let response = without
        .api
        .get(format!("{}/auth/jwks.json", without.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("OIDC_CLIENT_PRIVATE_KEY"));
}
