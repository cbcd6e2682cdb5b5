//! Opaque access tokens: asked about at the provider's introspection endpoint with the
//! client's own authentication, at most once a minute per token.

use reqwest::StatusCode;

use super::{client_credentials, header, spawn_with_bearers, OPAQUE_API};
use crate::support::app::Options;

#[tokio::test]
async fn an_opaque_token_is_introspected_at_the_provider_once_for_many_requests_with_each_secret_method() {
    for method in ["client_secret_basic", "client_secret_post"] {
        let app = spawn_with_bearers(Options {
            confidential: Some(method),
            ..Options::default()
        })
        .await;
        let token = client_credentials(&app, OPAQUE_API).await;
        assert_eq!(token.split('.').count(), 1, "an opaque token");
        for _ in 0..5 {
            let ok = app.gate_bearer("", &token).send().await.unwrap();
            assert_eq!(ok.status(), StatusCode::OK, "{method}");
        }
        assert_eq!(app.introspect_token(&token).await["kind"], "bearer");
        let calls = app.provider.stats().await["introspection_requests"].as_u64().unwrap();
        assert_eq!(calls, 1, "{method}: one provider call per token per minute");
    }
}

#[tokio::test]
async fn an_unknown_opaque_token_is_refused_and_the_refusal_is_reused() {
    let app = spawn_with_bearers(Options {
        confidential: Some("client_secret_basic"),
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        let refused = app.gate_bearer("", "not-a-real-token").send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert!(header(&refused, "www-authenticate").contains("invalid_token"));
    }
    let calls = app.provider.stats().await["introspection_requests"].as_u64().unwrap();
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn introspection_authenticates_with_private_key_jwt_too() {
    let key = crate::support::client_keys::ec_key();
    let app = spawn_with_bearers(Options {
        client: serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.jwk]},
        }),
        env: vec![("OIDC_CLIENT_PRIVATE_KEY", key.pem.clone())],
        ..Options::default()
    })
    .await;
    let token = client_credentials(&app, OPAQUE_API).await;
    let ok = app.gate_bearer("", &token).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let stats = app.provider.stats().await;
    let introspections: Vec<_> = stats["client_assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["route"] == "introspection")
        .collect();
    assert_eq!(introspections.len(), 1, "{stats}");
    assert_eq!(introspections[0]["header"]["kid"], key.kid.as_str());
}

#[tokio::test]
async fn concurrent_requests_with_one_opaque_token_make_one_provider_call() {
    let app = spawn_with_bearers(Options {
        confidential: Some("client_secret_basic"),
        ..Options::default()
    })
    .await;
    let token = client_credentials(&app, OPAQUE_API).await;
    let answers = futures_util::future::join_all((0..20).map(|_| app.gate_bearer("", &token).send())).await;
    for answer in answers {
        assert_eq!(answer.unwrap().status(), StatusCode::OK);
    }
    let calls = app.provider.stats().await["introspection_requests"].as_u64().unwrap();
    assert_eq!(calls, 1, "requests that arrive together wait for the one call");
}
