//! The identity assertion (README, "Verifying the identity assertion"): signed by
//! `OIDC_ASSERTION_KEY`, verified here as an upstream would, with the keys the internal
//! listener publishes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::Generate;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{header, send};
use crate::support::app::{spawn_app, spawn_app_with, Options, TestApp};

pub(crate) fn ec_pem() -> String {
    p256::SecretKey::generate()
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap()
        .to_string()
}

pub(crate) async fn app_with_assertions(extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = vec![("OIDC_ASSERTION_KEY", ec_pem())];
    env.extend(extra);
    spawn_app_with(Options {
        env,
        ..Options::default()
    })
    .await
}

fn part(jwt: &str, index: usize) -> Value {
    let segment = jwt.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

async fn published_keys(app: &TestApp) -> Value {
    let jwks = reqwest::get(format!("{}/.well-known/jwks.json", app.internal))
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    jwks.json().await.unwrap()
}

/// ES256 verification with the published key named by the token's `kid`.
fn verifies(jwt: &str, jwks: &Value) -> bool {
    let kid = part(jwt, 0)["kid"].clone();
    let Some(key) = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid) else {
        return false;
    };
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let point = [vec![4u8], coordinate("x"), coordinate("y")].concat();
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
        .is_ok()
}

#[tokio::test]
async fn forward_auth_hands_the_upstream_an_assertion_that_verifies_with_the_published_keys() {
    let app = app_with_assertions(vec![("OIDC_ASSERTION_LIFETIME", "2m".into())]).await;
    let session = app.sign_in("alice").await;
    let ok = send(app.gate(Method::GET, "/forward-auth?audience=orders-api", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let jwt = header(&ok, "x-auth-request-assertion");
    let jwks = published_keys(&app).await;
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert_eq!(jwks["keys"][0]["use"], "sig");
    assert!(verifies(&jwt, &jwks), "the upstream verifies the assertion");
    let claims = part(&jwt, 1);
    assert_eq!(claims["iss"], app.public.as_str());
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["sub"], app.introspect(&session).await["sub"]);
    assert_eq!(claims["preferred_username"], header(&ok, "x-auth-request-user"));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 120);
    assert!(claims["groups"].is_array());
    assert!(claims.as_object().unwrap().values().all(|v| !v.is_null()));

    let again = send(app.gate(Method::GET, "/forward-auth?audience=orders-api", Some(&session))).await;
    assert_eq!(
        header(&again, "x-auth-request-assertion"),
        jwt,
        "reused within half its lifetime"
    );
}

#[tokio::test]
async fn without_an_audience_the_assertion_is_for_the_original_origin_else_the_services_own() {
    let app = app_with_assertions(Vec::new()).await;
    let session = app.sign_in("alice").await;
    let own = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(
        part(&header(&own, "x-auth-request-assertion"), 1)["aud"],
        app.public.as_str()
    );
    // Another site behind the same proxy, described as Traefik and Caddy describe it.
    let proxied = super::proxy()
        .get(format!("{}/forward-auth", app.internal))
        .header("cookie", format!("oidc_session={session}"))
        .header("x-forwarded-host", "orders.example.test:8443")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-uri", "/list?page=2");
    let ok = send(proxied).await;
    assert_eq!(
        part(&header(&ok, "x-auth-request-assertion"), 1)["aud"],
        "https://orders.example.test:8443"
    );
}

#[tokio::test]
async fn without_a_key_there_is_no_assertion_and_the_key_set_is_empty() {
    let app = spawn_app().await;
    let session = app.sign_in("alice").await;
    let ok = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("x-auth-request-assertion").is_none());
    assert_eq!(published_keys(&app).await, serde_json::json!({"keys": []}));
}

#[tokio::test]
async fn an_empty_or_repeated_audience_is_a_proxy_configuration_error() {
    let app = app_with_assertions(Vec::new()).await;
    for route in ["/forward-auth?audience=", "/forward-auth?audience=a&audience=b"] {
        let answer = send(app.gate(Method::GET, route, None)).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{route}");
        let body: Value = answer.json().await.unwrap();
        assert!(
            body["error_description"].as_str().unwrap().contains("audience"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn assertions_verify_with_the_published_keys_before_and_after_a_key_rotation() {
    let (new, old) = (ec_pem(), ec_pem());
    let assertion_and_keys = async |pem: String| {
        let app = spawn_app_with(Options {
            env: vec![("OIDC_ASSERTION_KEY", pem)],
            ..Options::default()
        })
        .await;
        let session = app.sign_in("alice").await;
        let ok = send(app.gate(Method::GET, "/forward-auth", Some(&session))).await;
        (header(&ok, "x-auth-request-assertion"), published_keys(&app).await)
    };
    let (before, old_keys) = assertion_and_keys(old.clone()).await;
    // The new key first (it signs), the old one still published.
    let (during, rotation_keys) = assertion_and_keys(format!("{new}{old}")).await;
    assert_eq!(rotation_keys["keys"].as_array().unwrap().len(), 2, "{rotation_keys}");
    assert_eq!(
        part(&during, 0)["kid"],
        rotation_keys["keys"][0]["kid"],
        "the first key signs"
    );
    assert!(verifies(&before, &old_keys));
    assert!(verifies(&during, &rotation_keys));
    assert!(
        verifies(&before, &rotation_keys),
        "an assertion of the old key still verifies during the rotation"
    );
    assert!(
        !verifies(&during, &old_keys),
        "keys fetched before the rotation lack the new one"
    );
}
